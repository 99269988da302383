import type { KeyboardInteractiveRequest } from '@portcullis/wire';
import type { UserDirectory } from '../../users-file.ts';
import type { Conversation, ConversationStep, KeyboardInteractiveFlow } from './conversation.ts';

const PASSWORD_PROMPT = { prompt: 'Password: ', echo: false };
const CODE_PROMPT = { prompt: 'One-time code: ', echo: false };
const CODE_INSTRUCTION = 'Enter the 6-digit code your authenticator app shows.';

/**
 * The reference flow: the password, then, for users with a `totpSecret`, an RFC 6238 one-time
 * code. The code is asked whether or not the password was right, so the conversation does not
 * tell which factor failed; the log does (reason `password` or `totp`).
 */
export function passwordTotpFlow(users: UserDirectory): KeyboardInteractiveFlow {
  return {
    name: 'password-totp',
    start: () => new PasswordTotpConversation(users),
  };
}

class PasswordTotpConversation implements Conversation {
  private stage: 'start' | 'password' | 'code' = 'start';
  private passwordOk = false;

  constructor(private readonly users: UserDirectory) {}

  async next(answers: readonly string[], request: KeyboardInteractiveRequest): Promise<ConversationStep> {
    const { username } = request;
    switch (this.stage) {
      case 'start':
        this.stage = 'password';
        return { challenge: { name: '', instruction: '', prompts: [PASSWORD_PROMPT] } };
      case 'password':
        this.passwordOk = await this.users.verifyPassword(username, Buffer.from(answers[0] ?? '', 'utf8'));
        if (this.users.hasTotp(username)) {
          this.stage = 'code';
          return { challenge: { name: '', instruction: CODE_INSTRUCTION, prompts: [CODE_PROMPT] } };
        }
        return this.decide(username, this.passwordOk, 'password');
      case 'code': {
        const codeOk = await this.users.verifyTotp(username, answers[0] ?? '');
        return this.decide(username, this.passwordOk && codeOk, this.passwordOk ? 'totp' : 'password');
      }
    }
  }

  private decide(username: string, ok: boolean, failedAt: 'password' | 'totp'): ConversationStep {
    return ok ? { decision: { success: true, authenticatedUsername: username, ...this.users.grantsOf(username) } } : { decision: { success: false }, reason: failedAt };
  }
}
