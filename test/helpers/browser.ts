import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium, headless, as the tests drive it (playwright-core ships no browser). */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 60_000,
  });
}

export interface ProviderLogin {
  readonly login: string;
  readonly password: string;
  /** What the person clicks on the consent page. */
  readonly decision?: 'allow' | 'deny';
}

/** Signs in on the test provider's login page and answers its consent page, as a person would. */
async function signInAndConsent(page: Page, person: ProviderLogin): Promise<void> {
  await page.getByLabel('Login').fill(person.login);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: person.decision === 'deny' ? 'Deny' : 'Continue' }).click();
}

/**
 * The OIDC device flow in the browser: open the verification address the SSH client showed, type
 * the user code, confirm, sign in, consent. Resolves with the text of the last page.
 */
export async function completeDeviceFlow(browser: Browser, verificationUri: string, userCode: string, person: ProviderLogin): Promise<string> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(verificationUri);
    await page.locator('input[name="user_code"]').fill(userCode);
    await page.locator('button[type="submit"], input[type="submit"]').first().click();
    // oidc-provider's confirmation page: "Continue" submits the confirm form.
    await page.getByRole('button', { name: 'Continue' }).click();
    await signInAndConsent(page, person);
    await page.waitForLoadState('load');
    return await page.locator('body').innerText();
  } finally {
    await context.close();
  }
}

/**
 * The authorization code flow in the browser: open the address, sign in, consent, and read the
 * code the redirect page shows (what a person copies into the SSH window).
 */
export async function completeAuthorizationCodeFlow(browser: Browser, url: string, person: ProviderLogin): Promise<string> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(url);
    await signInAndConsent(page, person);
    return (await page.locator('#code').innerText()).trim();
  } finally {
    await context.close();
  }
}
