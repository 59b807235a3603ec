// An agent written with the official `openai` npm client, run against
// `tektra serve`: a manual tool loop, runTools, chat.completions.parse with
// a JSON schema, and a streamed tool call assembled by the client.
//   node tests/openai/agent.mjs BASE_URL
// (NODE_PATH names the node_modules of scripts/npm-cache.sh openai.)
// Prints one line per check and exits 1 when one fails.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH || ".", "x.js"));
const OpenAI = require("openai").default ?? require("openai");

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: "none", maxRetries: 0 });
let failed = 0;

function check(ok, what) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failed++;
}

const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string", maxLength: 12 },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
      },
      required: ["city", "unit"],
      additionalProperties: false,
    },
  },
};

function validWeather(args) {
  return (
    typeof args.city === "string" &&
    ["celsius", "fahrenheit"].includes(args.unit) &&
    Object.keys(args).length === 2
  );
}

const question = [{ role: "user", content: "What is the weather in Paris?" }];

async function manualLoop() {
  const first = await client.chat.completions.create({
    model: "m",
    messages: question,
    tools: [weather],
    tool_choice: "required",
    parallel_tool_calls: false,
    temperature: 1,
    seed: 7,
    max_tokens: 300,
  });
  const msg = first.choices[0].message;
  check(first.choices[0].finish_reason === "tool_calls", "manual loop: finish_reason tool_calls");
  const call = msg.tool_calls?.[0];
  check(call?.type === "function" && call.function.name === "get_weather", "manual loop: a get_weather call");
  const args = JSON.parse(call.function.arguments);
  check(validWeather(args), `manual loop: arguments validate ${call.function.arguments}`);
  const second = await client.chat.completions.create({
    model: "m",
    messages: [
      ...question,
      msg,
      { role: "tool", tool_call_id: call.id, content: JSON.stringify({ celsius: 21 }) },
    ],
    tools: [weather],
    temperature: 0,
    max_tokens: 8,
  });
  check(typeof second.choices[0].message.content === "string", "manual loop: an answer after the tool result");
}

async function runTools() {
  const seen = [];
  const runner = client.chat.completions.runTools({
    model: "m",
    messages: question,
    tools: [
      {
        type: "function",
        function: {
          ...weather.function,
          function: (a) => {
            seen.push(a);
            return { celsius: 21 };
          },
          parse: JSON.parse,
        },
      },
    ],
    tool_choice: { type: "function", function: { name: "get_weather" } },
    temperature: 1,
    seed: 3,
    max_tokens: 300,
  });
  await runner.finalChatCompletion();
  check(seen.length === 1 && validWeather(seen[0]), `runTools: the function ran with ${JSON.stringify(seen)}`);
  check(runner.messages.some((m) => m.role === "tool"), "runTools: the tool result is in the conversation");
}

async function parseSchema() {
  const schema = {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 10 },
      age: { type: "integer" },
      tags: { type: "array", items: { type: "string", maxLength: 6 }, maxItems: 2 },
    },
    required: ["name", "age", "tags"],
    additionalProperties: false,
  };
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.parse({
      model: "m",
      messages: [{ role: "user", content: "Describe a person." }],
      response_format: { type: "json_schema", json_schema: { name: "person", schema, strict: true } },
      temperature: 1,
      seed,
      max_tokens: 400,
    });
    const p = r.choices[0].message.parsed;
    check(
      p && typeof p.name === "string" && Number.isInteger(p.age) && Array.isArray(p.tags) && p.tags.length <= 2,
      `parse: seed ${seed} gives ${JSON.stringify(p)}`,
    );
  }
}

async function streamTools() {
  const stream = client.chat.completions.stream({
    model: "m",
    messages: question,
    tools: [weather],
    tool_choice: "required",
    parallel_tool_calls: false,
    temperature: 1,
    seed: 11,
    max_tokens: 300,
  });
  let deltas = 0;
  stream.on("chunk", (c) => {
    if (c.choices[0]?.delta?.tool_calls) deltas++;
  });
  const done = await stream.finalChatCompletion();
  const call = done.choices[0].message.tool_calls?.[0];
  check(deltas >= 2, `stream: ${deltas} tool_calls deltas`);
  check(done.choices[0].finish_reason === "tool_calls", "stream: finish_reason tool_calls");
  check(call && validWeather(JSON.parse(call.function.arguments)), `stream: assembled ${call?.function.arguments}`);
}

async function refused() {
  try {
    await client.chat.completions.create({
      model: "m",
      messages: question,
      response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", contentEncoding: "base64" } } },
    });
    check(false, "an unsupported schema keyword is refused");
  } catch (e) {
    check(e.status === 400 && /contentEncoding/.test(e.message), `an unsupported schema keyword is a 400: ${e.message}`);
  }
}

for (const [name, fn] of Object.entries({ manualLoop, runTools, parseSchema, streamTools, refused })) {
  try {
    await fn();
  } catch (e) {
    check(false, `${name}: ${e.stack || e}`);
  }
}
process.exit(failed ? 1 : 0);
