/**
 * Tokens per chat message allowed for the chat template when the exact template is not applied
 * (a vocabulary of no known chat format, a conversation the template rejects, or a model of the
 * template's cost): an approximation; the engine's usage report is what sizes the session's KV
 * afterwards.
 */
export const CHAT_TEMPLATE_TOKENS_PER_MESSAGE = 4;

/**
 * A chat prompt's token count without its exact template: each message's content tokens (as
 * `countTokens` counts them) plus CHAT_TEMPLATE_TOKENS_PER_MESSAGE. The node's admission count
 * falls back to it, and the simulated node counts every chat prompt with it.
 */
export function approxChatPromptTokens(
  messages: readonly { readonly content: string }[],
  countTokens: (content: string) => number,
): number {
  let n = 0;
  for (const m of messages) n += countTokens(m.content) + CHAT_TEMPLATE_TOKENS_PER_MESSAGE;
  return n;
}
