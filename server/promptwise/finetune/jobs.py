"""Upload fine-tuning files and start/follow jobs with the official `openai` client.

The client is the engine's own (`engine.providers.Provider` over a resolved connection), so
OpenAI, OpenAI-compatible and Azure OpenAI (key or Entra ID) connections behave exactly as in
`promptwise run`. Calls are not retried: a failed upload or job creation is reported, never
repeated behind the user's back (a repeat could start and bill a second job).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

TERMINAL = ("succeeded", "failed", "cancelled")
# Azure OpenAI imports an uploaded file before a job may use it (OpenAI queues the job instead).
FILE_IMPORTING = ("pending", "running")
FILE_WAIT_SECONDS = 30 * 60


class FineTuneError(Exception):
    """A connection, upload or job call failed; the message says what and what to do."""


def connection_for(workspace: Path | None, name: str | None):
    from promptwise.config import ConfigError, load_workspace
    from promptwise.engine.connections import ConnectionConfigError, ConnectionResolver

    try:
        resolver = ConnectionResolver.for_workspace(load_workspace(workspace or Path.cwd()))
        return resolver.resolve(name)
    except (ConfigError, ConnectionConfigError) as error:
        raise FineTuneError(str(error)) from None


async def _call(connection, work):
    import openai

    from promptwise.engine.providers import Provider

    provider = Provider(connection, concurrency=2)
    try:
        return await work(provider.client)
    except openai.APIStatusError as error:
        raise FineTuneError(f"{connection.label()}: the service answered HTTP {error.status_code}: "
                            f"{_detail(error)}") from None
    except openai.APIConnectionError:
        raise FineTuneError(f"{connection.label()}: cannot reach {connection.endpoint}; check the endpoint "
                            "and your network") from None
    finally:
        await provider.aclose()


def _detail(error) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    message = body.get("message") or (body.get("error") or {}).get("message") if body else None
    return str(message or error.message)


def submit(connection, training: Path, model: str, *, validation: Path | None = None,
           epochs: int | None = None, suffix: str | None = None):
    """Upload the file(s) (purpose fine-tune) and create the job; returns the job object."""

    async def work(client):
        async def upload(path: Path):
            uploaded = await client.files.create(file=(path.name, path.read_bytes()), purpose="fine-tune")
            return await _imported(client, uploaded, path)

        train_file = await upload(training)
        valid_file = await upload(validation) if validation else None
        options = {}
        if valid_file is not None:
            options["validation_file"] = valid_file.id
        if suffix:
            options["suffix"] = suffix
        if epochs and connection.is_azure:
            # Azure OpenAI's GA API versions take `hyperparameters` and know no `method`.
            options["hyperparameters"] = {"n_epochs": epochs}
        elif epochs:
            options["method"] = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}}
        return await client.fine_tuning.jobs.create(model=model, training_file=train_file.id, **options)

    return asyncio.run(_call(connection, work))


async def _imported(client, uploaded, path: Path):
    """The uploaded file once the service has imported it (Azure: pending -> running -> processed);
    FineTuneError when the import fails or takes longer than FILE_WAIT_SECONDS."""
    started, delay = time.monotonic(), 0.0
    while getattr(uploaded, "status", None) in FILE_IMPORTING:
        if time.monotonic() - started > FILE_WAIT_SECONDS:
            raise FineTuneError(f"{path}: uploaded as {uploaded.id}, still {uploaded.status} after "
                                f"{FILE_WAIT_SECONDS // 60} minutes; no job was started, submit again later")
        await asyncio.sleep(delay)
        delay = min(5.0, delay * 2 or 0.5)
        uploaded = await client.files.retrieve(uploaded.id)
    if getattr(uploaded, "status", None) == "error":
        detail = getattr(uploaded, "status_details", None) or "no detail given"
        raise FineTuneError(f"{path}: the service could not import the file ({detail}); no job was started")
    return uploaded


def _latest(client):
    async def latest():
        page = await client.fine_tuning.jobs.list(limit=1)
        if not page.data:
            raise FineTuneError("no fine-tuning jobs on this connection yet; start one with "
                                "`promptwise finetune submit DATA.jsonl --model M`")
        return page.data[0]
    return latest()


def follow(connection, job_id: str | None, *, follow: bool = False, interval: float = 10.0, out=None):
    """Print the job's state and new events (oldest first); with `follow`, until it ends."""
    seen: set[str] = set()

    async def work(client):
        job = await client.fine_tuning.jobs.retrieve(job_id) if job_id else await _latest(client)
        while True:
            events = await client.fine_tuning.jobs.list_events(job.id, limit=100)
            for event in sorted(events.data, key=lambda e: (e.created_at, e.id)):
                if event.id not in seen:
                    seen.add(event.id)
                    print(f"  {time.strftime('%H:%M:%S', time.gmtime(event.created_at))} {event.level}: "
                          f"{event.message}", file=out)
            if not follow or job.status in TERMINAL:
                break
            await asyncio.sleep(interval)
            job = await client.fine_tuning.jobs.retrieve(job.id)
        return job

    job = asyncio.run(_call(connection, work))
    print(f"job {job.id}: {job.status} (base model {job.model})", file=out)
    if job.status == "succeeded" and job.fine_tuned_model:
        name = job.fine_tuned_model
        print(f"fine-tuned model: {name}", file=out)
        print(f"use it as `model: {name}` in a node variant or prompty, or compare it: "
              f"promptwise eval FLOW --models {job.model},{name}", file=out)
    elif job.status == "failed" and job.error is not None:
        print(f"failed: {job.error.message or job.error.code}", file=out)
    return job
