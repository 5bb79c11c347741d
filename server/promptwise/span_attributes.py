"""The names of span attributes: the one trace schema that the engine writes and serving,
monitoring, rollouts and the editor read.

Plain constants at the bottom of the package (no imports), so the engine (below tracing/)
can name them without importing the tracing layer; `promptwise.tracing.attributes`
re-exports them for the layers above.

GenAI names follow the OpenTelemetry GenAI semantic conventions (gen_ai.*); ours carry the
`promptwise.` prefix. Values are OTel attribute values: str, bool, int, float or sequences
of one of those; messages are JSON text in the conventions' message shape.
"""

# --- OpenTelemetry GenAI semantic conventions ------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"  # chat | text_completion | embeddings | execute_tool | invoke_workflow
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"  # openai | azure.ai.openai | ...
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"  # list of str
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"  # JSON: [{"role", "parts": [{"type": "text", "content"}]}]
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"  # JSON: [{"role", "parts", "finish_reason"}]
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_WORKFLOW_NAME = "gen_ai.workflow.name"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_EVALUATION_NAME = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"  # content
ERROR_TYPE = "error.type"  # the exception's class name, or an HTTP status code as text

# Values of gen_ai.operation.name we use.
OPERATION_CHAT = "chat"
OPERATION_TEXT_COMPLETION = "text_completion"
OPERATION_EMBEDDINGS = "embeddings"
OPERATION_EXECUTE_TOOL = "execute_tool"
OPERATION_INVOKE_WORKFLOW = "invoke_workflow"

# --- Promptwise's own ------------------------------------------------------------------
# What a span stands for: one of the SPAN_KIND_* values below.
SPAN_KIND = "promptwise.span.kind"
SPAN_KIND_REQUEST = "request"  # a served HTTP request (serving/)
SPAN_KIND_FLOW = "flow"  # one execution of a flow: a run, a batch row, an evaluator flow call
SPAN_KIND_NODE = "node"  # one node of a DAG flow
SPAN_KIND_LLM = "llm"  # one model call (after the cache: a cache hit is a model-call span too)
SPAN_KIND_FUNCTION = "function"  # a user function decorated with promptflow.tracing.trace
SPAN_KIND_EVALUATION = "evaluation"  # one evaluator applied to one row (judges included)
SPAN_KIND_FEEDBACK = "feedback"  # a caller's feedback on a served answer (POST /feedback)

FLOW_NAME = "promptwise.flow.name"  # the flow's folder or file name
FLOW_PATH = "promptwise.flow.path"  # absolute path of the flow file or folder
FLOW_CONTENT_HASH = "promptwise.flow.content_hash"  # documents.content_hash.flow_content_hash
VERSION_ID = "promptwise.version.id"  # the deployed version that answered (operate part 2)
CONSUMER = "promptwise.consumer"  # the API key's consumer name (serving)
RUN_ID = "promptwise.run.id"  # the run store's run name
ROW_INDEX = "promptwise.row.index"  # 0-based index of a batch row
NODE_NAME = "promptwise.node.name"
NODE_TYPE = "promptwise.node.type"  # llm | python | prompt | custom_llm | prompty | flex
NODE_INPUTS = "promptwise.node.inputs"  # JSON (content)
NODE_OUTPUT = "promptwise.node.output"  # JSON (content)
VARIANT_ID = "promptwise.variant.id"
FUNCTION_NAME = "promptwise.function.name"  # module.qualname of a traced user function
FUNCTION_INPUTS = "promptwise.function.inputs"  # JSON (content: dropped when capture is off)
FUNCTION_OUTPUT = "promptwise.function.output"  # JSON (content: dropped when capture is off)
FLOW_INPUTS = "promptwise.flow.inputs"  # JSON (content)
FLOW_OUTPUTS = "promptwise.flow.outputs"  # JSON (content)
COST_USD = "promptwise.cost_usd"  # float; absent when the model's price is unknown
CACHE_HIT = "promptwise.cache_hit"  # bool: answered from the local response cache
ATTEMPTS = "promptwise.attempts"  # int: model-call attempts including retries
CONNECTION_NAME = "promptwise.connection.name"
STREAMED = "promptwise.streamed"  # bool: the reply was streamed to the caller
TIME_TO_FIRST_TOKEN_MS = "promptwise.time_to_first_token_ms"  # float, streamed replies: as the client got it
MODEL_TIME_TO_FIRST_TOKEN_MS = "promptwise.model_time_to_first_token_ms"  # float: the model's first token
CANCELLED = "promptwise.cancelled"  # bool: the caller went away (client disconnect)
# bool, on a model call: its usage and cost are our estimate (tiktoken counts of the prompt and of
# the text received), as a streamed reply cut before the endpoint's usage chunk has no other.
USAGE_ESTIMATED = "promptwise.usage.estimated"
SHADOW = "promptwise.shadow"  # bool: a shadow request whose answer was not returned
SHADOW_OF_CONSUMER = "promptwise.shadow.consumer"  # the consumer whose request was shadowed (not billed to it)
EVALUATOR = "promptwise.evaluator"  # the evaluator's name on evaluation spans
HTTP_ROUTE = "http.route"  # standard HTTP names for request spans (OTel HTTP server conventions)
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
URL_PATH = "url.path"
URL_SCHEME = "url.scheme"  # http | https
SERVER_ADDRESS = "server.address"  # the address the server listens on that took the request
SERVER_PORT = "server.port"
NETWORK_PROTOCOL_VERSION = "network.protocol.version"  # 1.1 | 2
USER_AGENT_ORIGINAL = "user_agent.original"
# A caller's feedback on an answer (POST /feedback, as pf flow serve records it): a span of kind
# SPAN_KIND_FEEDBACK named FEEDBACK_SPAN_NAME in the answer's trace, the body in FEEDBACK.
FEEDBACK = "feedback"  # the body as sent (content: governed like prompts); pf's attribute name
FEEDBACK_SPAN_NAME = "promptflow-feedback"  # pf's span name, so its users' queries find ours

# Attributes that carry prompts, replies or user data: never set when capture is off.
CONTENT_ATTRIBUTES = frozenset({
    GEN_AI_INPUT_MESSAGES, GEN_AI_OUTPUT_MESSAGES, FUNCTION_INPUTS, FUNCTION_OUTPUT, FLOW_INPUTS, FLOW_OUTPUTS,
    NODE_INPUTS, NODE_OUTPUT, GEN_AI_EVALUATION_EXPLANATION, FEEDBACK,
})
