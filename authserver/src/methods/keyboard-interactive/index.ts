export { ConversationStore, type Conversation, type ConversationStep, type KeyboardInteractiveFlow } from './conversation.ts';
export { passwordTotpFlow } from './password-totp.ts';
