"""Request parameters a model refuses, and what to send instead.

OpenAI's reasoning models (the o-series and the gpt-5 family, on OpenAI and Azure OpenAI alike)
refuse `max_tokens` with a 400 and take `max_completion_tokens`, the same limit counting their
reasoning tokens too. Documented: OpenAI's API reference (`max_tokens` "is now deprecated in favor
of `max_completion_tokens`, and is not compatible with o-series models"), Azure OpenAI's reasoning
models page ("Reasoning models will only work with the max_completion_tokens parameter"). A flow
written for gpt-4o-mini with `max_tokens` (a classifier) failed on every row once run with o4-mini.

Sampling parameters differ by model and setting: the same pages list temperature, top_p,
presence_penalty, frequency_penalty, logprobs, top_logprobs and logit_bias as unsupported by the
o-series (temperature is refused unless it is the default, 1), while OpenAI's gpt-5.1/5.2 guide
accepts temperature, top_p and logprobs with `reasoning_effort: none` (their default). So these
are never dropped on a guess: only when the endpoint refuses one, naming it in its error object
(`param`, with code `unsupported_parameter` or `unsupported_value`), is the call sent again
without it, so the model's default applies, and a warning says so.

What we know of a model: the catalog (family `reasoning` from OpenAI or Azure OpenAI) before
its first call, passed in by the caller; for a model the catalog does not know (an Azure
deployment named freely, a gateway's alias) the endpoint's 400, remembered per model name for
the life of the process, so only the first calls of a run are refused (refused calls are not
billed).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

# Dropped only when the endpoint names one as unsupported (see above).
SAMPLING_PARAMETERS = frozenset(("temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs",
                                 "top_logprobs", "logit_bias"))
_REFUSAL_CODES = ("unsupported_parameter", "unsupported_value")

# model name -> the parameters it has refused in this process ("max_tokens" means: send
# max_completion_tokens instead). Written rarely (once per model and parameter), read per call.
_refused: dict[str, frozenset[str]] = {}
_lock = threading.Lock()


def adapted(model: str, request: dict[str, Any], reasoning: bool = False) -> dict[str, Any]:
    """`request` as `model` takes it: `max_tokens` sent as `max_completion_tokens` for a reasoning
    model (or one that refused it), parameters it refused left out. The same dict when nothing
    changes (the common case costs one dict lookup)."""
    refused = _refused.get(model)
    if refused is None and not reasoning:
        return request
    refused = refused or frozenset()
    renamed = (reasoning or "max_tokens" in refused) and "max_tokens" in request
    dropped = [key for key in request if key in refused and key in SAMPLING_PARAMETERS]
    if not renamed and not dropped:
        return request
    request = {key: value for key, value in request.items() if key not in dropped}
    if renamed:
        limit = request.pop("max_tokens")
        request.setdefault("max_completion_tokens", limit)  # an explicit max_completion_tokens wins
    return request


def refused_parameter(error: BaseException) -> str | None:
    """The parameter a 400 from the endpoint refuses, when it is one we can do without: `max_tokens`
    (to be sent as max_completion_tokens) or a sampling parameter. None for any other error."""
    if getattr(error, "status_code", None) != 400:
        return None
    body = getattr(error, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return None
    param, code, message = inner.get("param"), inner.get("code"), str(inner.get("message") or "")
    if param == "max_tokens" or (param is None and "max_completion_tokens" in message and "max_tokens" in message):
        return "max_tokens"  # (some gateways pass on the message without `param`)
    if param in SAMPLING_PARAMETERS and code in _REFUSAL_CODES:
        return param
    return None


def learn(model: str, parameter: str, request: dict[str, Any]) -> bool:
    """Remember that `model` refuses `parameter`. True when the request can be sent again without
    it (it was in the request as sent), False when adapting would not change anything."""
    if parameter not in request:
        return False
    with _lock:
        known = _refused.get(model, frozenset())
        new = parameter not in known
        _refused[model] = known | {parameter}
    if new:
        if parameter == "max_tokens":
            log.warning("model %s refused `max_tokens` (reasoning models take `max_completion_tokens`): its calls "
                        "send the same limit as `max_completion_tokens` from now on", model)
        else:
            log.warning("model %s refused `%s` (%r): its calls are sent without it from now on, so the model's "
                        "default applies; remove it from the node or prompty to silence this", model, parameter,
                        request[parameter])
    return True


def forget() -> None:
    """Forget what models have refused (tests)."""
    with _lock:
        _refused.clear()
