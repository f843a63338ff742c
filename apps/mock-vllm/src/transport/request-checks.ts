import { ChatFormatError, resolveRenderOptions, type ChatRenderOptions } from "@symphony/common";
import type { z } from "zod";
import type { Config } from "../config";
import type { ChatTemplate, TokenCache } from "../domain";
import { ApiError } from "./api-error";
import { describeZodError, messageText } from "./openai-schema";

/** The body checked against `schema`; a non-object or invalid body is a 400 naming the field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === undefined || body === null || typeof body !== "object")
    throw new ApiError(400, "request body must be a JSON object");
  const r = schema.safeParse(body);
  if (!r.success) throw new ApiError(400, describeZodError(r.error));
  return r.data;
}

/** The served model a request names (the first served name when it names none); unknown -> 404. */
export function checkModel(config: Config, model: string | null | undefined): string {
  if (model == null || model === "") return config.servedModelNames[0]!;
  if (!config.servedModelNames.includes(model))
    throw new ApiError(404, `The model \`${model}\` does not exist.`, "model");
  return model;
}

/**
 * The chat prompt as vLLM renders it: the model's template with add_generation_prompt /
 * continue_final_message, plus BOS when add_special_tokens asks for it (vLLM default false).
 */
export function chatPromptIds(
  template: ChatTemplate,
  body: {
    messages: readonly { role: string; content?: Parameters<typeof messageText>[0] }[];
    add_generation_prompt?: boolean | null;
    continue_final_message?: boolean | null;
    add_special_tokens?: boolean | null;
  },
): number[] {
  try {
    const options: ChatRenderOptions = resolveRenderOptions(
      body.add_generation_prompt,
      body.continue_final_message,
    );
    const messages = body.messages.map((m) => ({ role: m.role, content: messageText(m.content) }));
    const ids = template.apply(messages, options);
    return body.add_special_tokens ? [template.format.bosId, ...ids] : ids;
  } catch (err) {
    if (err instanceof ChatFormatError) throw new ApiError(400, err.message);
    throw err;
  }
}

/**
 * Throws vLLM's 400 "Token id N is out of vocabulary" (field `field`) for the first id that is
 * neither in the tokenizer's vocabulary nor one of the chat template's special ids.
 */
export function checkTokenIds(
  ids: readonly number[],
  tokens: TokenCache,
  template: ChatTemplate,
  field: string,
): void {
  const vocabSize = tokens.tokenizer.vocabSize;
  const special = template.format.specialIds;
  for (const id of ids)
    if (id >= vocabSize && !special.includes(id))
      throw new ApiError(400, `Token id ${id} is out of vocabulary`, field);
}
