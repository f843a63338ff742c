import { z } from "zod";

// Request bodies of the OpenAI-compatible endpoints. Unknown fields are accepted and ignored,
// as vLLM does (temperature, top_p, ... do not change the mock's output).

const textPart = z.looseObject({ type: z.string(), text: z.string().optional() });

const message = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(textPart), z.null()]).optional(),
});

const streamOptions = z
  .looseObject({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() })
  .nullish();

const sampling = {
  model: z.string().nullish(),
  stream: z.boolean().nullish(),
  stream_options: streamOptions,
  max_tokens: z.int().min(1).nullish(),
  min_tokens: z.int().min(0).nullish(),
  ignore_eos: z.boolean().nullish(),
  n: z.int().nullish(),
  /** Symphony extension: the text the mock answers. Real vLLM ignores it. */
  expected_response: z.string().nullish(),
};

/** vLLM's chat template fields (chat completions and the chat form of /tokenize). */
const chatTemplateFields = {
  /** Open an assistant turn at the end of the prompt (vLLM default true). */
  add_generation_prompt: z.boolean().nullish(),
  /** Leave the last message open (no end-of-turn token); exclusive with add_generation_prompt. */
  continue_final_message: z.boolean().nullish(),
  /** Add BOS on top of the template's own (vLLM default false for chat). */
  add_special_tokens: z.boolean().nullish(),
};

export const chatCompletionRequest = z.looseObject({
  ...sampling,
  ...chatTemplateFields,
  messages: z.array(message).min(1),
  max_completion_tokens: z.int().min(1).nullish(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;

export const completionRequest = z.looseObject({
  ...sampling,
  /** BOS before a text prompt (vLLM default true); token-id prompts are taken as they are. */
  add_special_tokens: z.boolean().nullish(),
  prompt: z.union([
    z.string(),
    z.array(z.string()).min(1),
    z.array(z.int().min(0)).min(1),
    z.array(z.array(z.int().min(0)).min(1)).min(1),
  ]),
});
export type CompletionRequest = z.infer<typeof completionRequest>;

/** POST /tokenize, chat form: the templated conversation. */
export const tokenizeChatRequest = z.looseObject({
  model: z.string().nullish(),
  messages: z.array(message).min(1),
  ...chatTemplateFields,
});

/** POST /tokenize, completion form: a raw prompt. */
export const tokenizePromptRequest = z.looseObject({
  model: z.string().nullish(),
  prompt: z.string(),
  add_special_tokens: z.boolean().nullish(),
});

export const detokenizeRequest = z.looseObject({
  model: z.string().nullish(),
  tokens: z.array(z.int().min(0)),
});

/** Flattens message content (string or text parts) to the text the template sees. */
export function messageText(content: string | readonly { type: string; text?: string }[] | null | undefined) {
  if (content == null) return "";
  if (typeof content === "string") return content;
  let out = "";
  for (const p of content) if (p.type === "text" && p.text) out += p.text;
  return out;
}

/** One line per problem, naming the field: `messages[0].role: Invalid input: expected string`. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path
        .map((p, k) => (typeof p === "number" ? `[${p}]` : k === 0 ? String(p) : `.${String(p)}`))
        .join("");
      return `${path || "body"}: ${i.message}`;
    })
    .join("; ");
}
