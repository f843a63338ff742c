/** A chat message in the OpenAI sense; the transport maps it to the wire type. */
export interface Message {
  role: "system" | "user" | "assistant";
  content: string;
}

/**
 * The conversation so far, as the client will send it. Each turn carries ALL earlier user
 * prompts and the assistant responses ACTUALLY received (not the dataset's), so the engine's
 * prefix cache sees exactly the bytes it produced.
 */
export class ChatHistory {
  private readonly messages: Message[] = [];

  constructor(system?: string) {
    if (system !== undefined) this.messages.push({ role: "system", content: system });
  }

  /** Messages for the next turn: the history plus this turn's user prompt. Does not modify the history. */
  requestMessages(userPrompt: string): Message[] {
    return [...this.messages, { role: "user", content: userPrompt }];
  }

  /** Records a completed turn: the prompt as sent and the response as received. */
  recordTurn(userPrompt: string, response: string): void {
    this.messages.push({ role: "user", content: userPrompt }, { role: "assistant", content: response });
  }

  /** Number of completed turns. */
  get turns(): number {
    return this.messages.filter((m) => m.role === "user").length;
  }

  /** Total characters of all messages (for rough size estimates). */
  get chars(): number {
    return this.messages.reduce((n, m) => n + m.content.length, 0);
  }
}
