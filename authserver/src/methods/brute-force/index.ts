export { LoginThrottle, DEFAULT_THROTTLE, addressOf, throttleKeyOf, type Block, type ThrottleSettings } from './login-throttle.ts';
export { attemptOf, throttled, refusedBy, settled, refusal, type Attempt } from './throttled.ts';
