"""The files and fine-tuning job routes of the fake OpenAI server (`FakeOpenAI.fine_tuning`).

Just enough of the API for the official `openai` client's `files.create`,
`fine_tuning.jobs.create|retrieve|list|list_events`, under `/v1` (OpenAI) and `/openai`
(Azure OpenAI). A job moves one step each time it is retrieved — validating_files, running,
then succeeded (or failed when `fail_next` is set) — so tests follow it without waiting on
a clock. Under `/openai` it behaves as Azure's GA API versions do: an uploaded file is
`pending` until retrieved (then `processed`), a job on a file not yet processed is refused, and
`method` is an unknown argument (epochs go in `hyperparameters`).
"""

from __future__ import annotations

import itertools
import json
import threading
import time

from aiohttp import web

PREFIXES = ("/v1", "/openai")


class FineTuningStandIn:
    def __init__(self, check_auth) -> None:
        self._check_auth = check_auth  # FakeOpenAI's key check: a 401 response or None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.files: dict[str, dict] = {}  # id -> metadata, plus "content" bytes
        self.jobs: dict[str, dict] = {}
        self.events: dict[str, list[dict]] = {}
        self.fail_next = False  # the next job created fails (as a real job with bad data would)
        self.import_error: str | None = None  # Azure: files fail their import with this detail
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request, in order

    def add_routes(self, app: web.Application) -> None:
        for prefix in PREFIXES:
            app.router.add_post(f"{prefix}/files", self._upload)
            app.router.add_get(f"{prefix}/files/{{file}}", self._file)
            app.router.add_post(f"{prefix}/fine_tuning/jobs", self._create)
            app.router.add_get(f"{prefix}/fine_tuning/jobs", self._list)
            app.router.add_get(f"{prefix}/fine_tuning/jobs/{{job}}", self._retrieve)
            app.router.add_get(f"{prefix}/fine_tuning/jobs/{{job}}/events", self._events)

    @staticmethod
    def _error(status: int, message: str, param: str | None = None) -> web.Response:
        return web.json_response({"error": {"message": message, "type": "invalid_request_error",
                                            "param": param, "code": None}}, status=status)

    def _event(self, job_id: str, message: str, level: str = "info") -> None:
        self.events[job_id].append({"id": f"ftevent-{next(self._ids)}", "object": "fine_tuning.job.event",
                                    "created_at": int(time.time()), "level": level, "message": message,
                                    "type": "message"})

    async def _upload(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        if (denied := self._check_auth(request)) is not None:
            return denied
        form = await request.post()
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, web.FileField) or purpose != "fine-tune":
            return self._error(400, "expected a multipart `file` and purpose=fine-tune", "file")
        content = upload.file.read()
        with self._lock:
            file_id = f"file-{next(self._ids)}"
            meta = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                    "filename": upload.filename, "purpose": purpose,
                    "status": "pending" if _azure(request) else "processed"}
            self.files[file_id] = {**meta, "content": content}
        return web.json_response(meta)

    async def _file(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        if (denied := self._check_auth(request)) is not None:
            return denied
        with self._lock:
            stored = self.files.get(request.match_info["file"])
            if stored is None:
                return self._error(404, f"no file {request.match_info['file']!r}")
            if stored["status"] == "pending" and self.import_error:
                stored.update(status="error", status_details=self.import_error)
            elif stored["status"] == "pending":  # imported by the time anyone asks
                stored["status"] = "processed"
            return web.json_response({key: value for key, value in stored.items() if key != "content"})

    async def _create(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        if (denied := self._check_auth(request)) is not None:
            return denied
        body = await request.json()
        for field in ("training_file", "validation_file"):
            if body.get(field) is not None and body[field] not in self.files:
                return self._error(400, f"file {body[field]!r} does not exist", field)
        if not body.get("training_file") or not body.get("model"):
            return self._error(400, "model and training_file are required", "training_file")
        if _azure(request):
            if "method" in body:
                return self._error(400, "Unrecognized request argument supplied: method", "method")
            for field in ("training_file", "validation_file"):
                if body.get(field) and self.files[body[field]]["status"] != "processed":
                    return self._error(400, f"file {body[field]} is not processed yet", field)
        with self._lock:
            job_id = f"ftjob-{next(self._ids)}"
            epochs = ((((body.get("method") or {}).get("supervised") or {}).get("hyperparameters")
                        or body.get("hyperparameters") or {}).get("n_epochs", "auto"))
            self.jobs[job_id] = {
                "id": job_id, "object": "fine_tuning.job", "created_at": int(time.time()), "model": body["model"],
                "training_file": body["training_file"], "validation_file": body.get("validation_file"),
                "status": "validating_files", "fine_tuned_model": None, "finished_at": None, "error": None,
                "hyperparameters": {"n_epochs": epochs}, "organization_id": "org-fake", "result_files": [],
                "seed": 0, "trained_tokens": None, "suffix": body.get("suffix"),
                "_fails": self.fail_next, "_request": body}
            self.fail_next = False
            self.events[job_id] = []
            self._event(job_id, f"Created fine-tuning job: {job_id}")
        return web.json_response(self._public(self.jobs[job_id]))

    @staticmethod
    def _public(job: dict) -> dict:
        return {key: value for key, value in job.items() if not key.startswith("_")}

    def _advance(self, job: dict) -> None:
        if job["status"] == "validating_files":
            job["status"] = "running"
            self._event(job["id"], "Files validated, moving job to queued state")
        elif job["status"] == "running" and job["_fails"]:
            job.update(status="failed", finished_at=int(time.time()),
                       error={"code": "invalid_training_file", "message": "The job failed (fake).", "param": None})
            self._event(job["id"], "The job failed (fake)", "error")
        elif job["status"] == "running":
            name = f"ft:{job['model']}:fake-org:{job['suffix'] or 'custom'}:{job['id'][-6:]}"
            job.update(status="succeeded", finished_at=int(time.time()), fine_tuned_model=name, trained_tokens=0)
            self._event(job["id"], f"New fine-tuned model created: {name}")
            self._event(job["id"], "The job has successfully completed")

    async def _retrieve(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        if (denied := self._check_auth(request)) is not None:
            return denied
        with self._lock:
            job = self.jobs.get(request.match_info["job"])
            if job is None:
                return self._error(404, f"no fine-tuning job {request.match_info['job']!r}")
            self._advance(job)
            return web.json_response(self._public(job))

    async def _list(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        if (denied := self._check_auth(request)) is not None:
            return denied
        limit = int(request.query.get("limit", "20"))
        with self._lock:
            newest = sorted(self.jobs.values(), key=lambda job: int(job["id"].split("-")[1]), reverse=True)
            return web.json_response({"object": "list", "data": [self._public(j) for j in newest[:limit]],
                                      "has_more": len(newest) > limit})

    async def _events(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        if (denied := self._check_auth(request)) is not None:
            return denied
        with self._lock:
            events = self.events.get(request.match_info["job"])
            if events is None:
                return self._error(404, f"no fine-tuning job {request.match_info['job']!r}")
            return web.json_response({"object": "list", "data": list(reversed(events)), "has_more": False})


def _azure(request: web.Request) -> bool:
    return request.path.startswith("/openai/")


def uploaded_lines(stand_in: FineTuningStandIn, file_id: str) -> list[dict]:
    """The JSONL examples of an uploaded file, for tests to compare with what was sent."""
    return [json.loads(line) for line in stand_in.files[file_id]["content"].splitlines() if line.strip()]
