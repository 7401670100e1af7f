"""The one teacher interface, the factory keyed by config, and request planning (keys, governance)."""
from __future__ import annotations

from typing import Protocol

from schemas.config import TeacherConfig
from schemas.teacher import RecordContext, TeacherRequest, TeacherResponse, legacy_request_key, teacher_key
from schemas.vocab import Vocabulary
from tasks.teachers.prompts import render_messages


class Teacher(Protocol):
    """Every teacher answers one request about one record; LLM teachers add an async batch path."""

    name: str
    config: TeacherConfig

    def complete(self, request: TeacherRequest, context: RecordContext) -> TeacherResponse: ...


class GovernanceError(PermissionError):
    """A credentialed record would be sent to a teacher not approved for its source."""


def build_teacher(name: str, config: TeacherConfig) -> Teacher:
    """The teacher for a config entry; an unknown kind raises ValueError."""
    if config.kind == "template":
        from tasks.teachers.template import TemplateTeacher
        return TemplateTeacher(name, config)
    if config.kind == "litellm":
        from tasks.teachers.llm import LlmTeacher
        return LlmTeacher(name, config)
    raise ValueError(f"unknown teacher kind {config.kind!r}")


def check_governance(ctx: RecordContext, name: str, config: TeacherConfig) -> None:
    """Refuse to send credentialed data (MIMIC-IV-ECG) to a teacher not approved for that source."""
    if config.kind == "template" or not ctx.credentialed:
        return
    if ctx.source not in config.allowed_credentialed_sources:
        raise GovernanceError(
            f"record {ctx.record_id} comes from credentialed source {ctx.source!r}; teacher {name!r} is not"
            f" approved for it (add {ctx.source!r} to teachers.{name}.allowed_credentialed_sources only if"
            " its endpoint does not retain data)"
        )


def generation_params(config: TeacherConfig) -> dict:
    params = {"max_tokens": config.max_tokens}
    if config.temperature is not None:
        params["temperature"] = config.temperature
    return params


def plan_request(ctx: RecordContext, name: str, config: TeacherConfig, version: str, vocab: Vocabulary,
                 feedback: str | None = None, round_: int = 0, parent: str | None = None,
                 previous: str | None = None) -> TeacherRequest:
    """The request for a record: rendered prompt, params, and its id (a hash of all of them).

    A regeneration (`round_` > 0) adds the rejected answer (`previous`) and the failed rules
    (`feedback`) as the next turns, so the teacher can correct exactly what was wrong.
    """
    messages, instruction = render_messages(ctx, version, vocab)
    if previous:
        messages = messages + [{"role": "assistant", "content": previous}]
    if feedback:
        messages = messages + [{"role": "user", "content": feedback}]
    params = generation_params(config)
    if config.vision and ctx.image_path and not ctx.image_sha256:
        raise ValueError(f"record {ctx.record_id}: teacher {name!r} is sent the page, but its sha256 is unknown")
    image = ctx.image_sha256 if config.vision else None
    legacy = legacy_request_key(ctx.record_id, messages, config.model or name, params, image_sha256=image)
    return TeacherRequest(request_id=teacher_key(name, legacy), legacy_request_id=legacy, record_id=ctx.record_id, teacher=name, model=config.model or name,
                          prompt_version=version, instruction=instruction, messages=messages, params=params,
                          round=round_, parent_request_id=parent)
