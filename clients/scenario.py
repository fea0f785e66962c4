"""The full liuyan scenario, driven by the Python client generated from openapi/openapi.json
(openapi-python-client). Run by scripts/client-scenario:

    python clients/scenario.py BASE_URL

Every step makes its call through the generated client (typed models, one function per
operation) and also one call that must fail, checking the status and that the body is
application/problem+json with the expected `type`. Exit status 0 when every check passes.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent / "generated" / "py"))

from liuyan_client import AuthenticatedClient, Client
from liuyan_client.api.auth import issue_token, register
from liuyan_client.api.feedback import rate_reply
from liuyan_client.api.handling import create_assignment, sign_for_assignment
from liuyan_client.api.messages import (
    accept_message,
    classify_message,
    create_message,
    get_message,
)
from liuyan_client.api.public import get_public_message, list_public_messages
from liuyan_client.api.reference_data import list_leaders, list_units
from liuyan_client.api.replies import (
    approve_reply,
    create_reply,
    publish_reply,
    submit_reply,
)
from liuyan_client.api.statistics import statistics_summary
from liuyan_client.models import (
    Account,
    ActionNote,
    ApproveReply,
    AssignmentDto,
    AssignmentList,
    AssignmentRole,
    AssignmentStatus,
    AssignRequest,
    Attachment,
    Classification,
    CreateMessage,
    CreateReply,
    FeedbackDto,
    GrantType,
    LeaderPage,
    Location,
    MediaType,
    MessageDto,
    MessageKind,
    MessageStatus,
    MessageSubmission,
    Priority,
    Problem,
    PublicMessagePage,
    RateReply,
    Rating,
    RegisterRequest,
    ReplyDto,
    ReplyKind,
    ReplyStatus,
    StatisticsSummary,
    StatisticsSummaryFormat,
    StepNote,
    TokenRequest,
    TokenResponse,
    UnitPage,
    Visibility,
)
from liuyan_client.types import Response

T = TypeVar("T")

TRANSPORT_CATEGORY = uuid.UUID("01930000-0000-7000-8000-000000000002")
GOOD_REPLY = (
    "经核实，该路口信号灯因线路老化损坏，已于11月24日更换线路并恢复正常运行。感谢您对城市交通工作的关心和监督。"
)
NO_SUCH_ID = uuid.UUID("00000000-0000-4000-8000-000000000000")

checks = 0


class ScenarioError(Exception):
    pass


def check(cond: bool, what: str) -> None:
    global checks
    checks += 1
    if not cond:
        raise ScenarioError(f"check failed: {what}")


def step(name: str) -> None:
    print(f"py: {name}", flush=True)


def ok(what: str, r: Response[Any], kind: type[T]) -> T:
    """The parsed body of a successful call, of the generated model `kind`."""
    global checks
    if not 200 <= r.status_code < 300 or not isinstance(r.parsed, kind):
        raise ScenarioError(f"{what}: HTTP {r.status_code} {r.content.decode(errors='replace')[:500]}")
    checks += 1
    return r.parsed


def problem(what: str, r: Response[Any], status: int, slug: str, field: str | None = None) -> Problem:
    """An expected failure: the status, problem+json, the `type`, for 422 the failing field."""
    if r.status_code != status:
        raise ScenarioError(
            f"{what}: expected {status} {slug}, got {r.status_code} {r.content.decode(errors='replace')[:500]}"
        )
    ct = r.headers.get("content-type", "")
    check(ct.startswith("application/problem+json"), f"{what}: content-type {ct}")
    p = r.parsed
    if not isinstance(p, Problem):
        raise ScenarioError(f"{what}: the body is not a Problem: {p!r}")
    check(p.type_ == f"urn:liuyan:problem:{slug}", f"{what}: type {p.type_}, expected {slug}")
    check(p.status == status, f"{what}: problem status {p.status}")
    if field is not None:
        fields = [e.field for e in (p.errors or [])]
        check(field in fields, f"{what}: errors {fields} lack {field}")
    print(f"py:   expected {status} {slug} ({what})", flush=True)
    return p


def etag(version: int) -> str:
    return f'"{version}"'


def main(base_url: str) -> None:
    started = time.monotonic()
    anonymous = Client(base_url=base_url, timeout=30.0)  # type: ignore[arg-type]

    def login(email: str, password: str) -> AuthenticatedClient:
        r = issue_token.sync_detailed(
            client=anonymous,
            body=TokenRequest(grant_type=GrantType.PASSWORD, email=email, password=password),
        )
        t = ok(f"login {email}", r, TokenResponse)
        return AuthenticatedClient(base_url=base_url, token=t.access_token, timeout=30.0)  # type: ignore[arg-type]

    # 1. Register a new citizen, log in.
    step("register a citizen")
    email = f"py-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}@example.cn"
    password = "py scenario password 2026"
    account = ok(
        "register",
        register.sync_detailed(
            client=anonymous,
            body=RegisterRequest(email=email, password=password, display_name="生成客户端市民"),
            idempotency_key=str(uuid.uuid4()),
        ),
        Account,
    )
    check(account.email == email and account.role == "citizen", "registered as citizen")
    problem(
        "password too short",
        register.sync_detailed(
            client=anonymous,
            body=RegisterRequest(email=f"x-{email}", password="short", display_name="短密码"),
        ),
        422,
        "validation-failed",
        "password",
    )
    problem(
        "wrong password",
        issue_token.sync_detailed(
            client=anonymous,
            body=TokenRequest(grant_type=GrantType.PASSWORD, email=email, password="not the password"),
        ),
        401,
        "unauthorized",
    )
    citizen = login(email, password)
    admin = login("admin@liuyan.example", "Demo-Admin-2026")
    liaison = login("liaison@liuyan.example", "Demo-Liaison-2026")
    handler = login("handler@liuyan.example", "Demo-Handler-2026")
    reviewer = login("reviewer@liuyan.example", "Demo-Reviewer-2026")
    analyst = login("analyst@liuyan.example", "Demo-Analyst-2026")

    def received() -> int:
        s = ok(
            "statistics",
            statistics_summary.sync_detailed(client=analyst, region_code="620000", format_=StatisticsSummaryFormat.JSON),
            StatisticsSummary,
        )
        return int(s.figures.received)

    # The province's count before this run's message: the statistics must count exactly it.
    received_before = received()

    # Reference data: the governor (handled by the provincial liaison office), the unit.
    leaders = ok("list leaders", list_leaders.sync_detailed(client=admin, region_code="620000", limit=100), LeaderPage)
    governor = next((ld for ld in leaders.items if ld.title == "甘肃省省长"), None)
    if governor is None:
        raise ScenarioError("no governor among the leaders")
    units = ok("list units", list_units.sync_detailed(client=admin, q="兰州市交通运输局", limit=10), UnitPage)
    bureau = next((u for u in units.items if u.name == "兰州市交通运输局"), None)
    if bureau is None:
        raise ScenarioError("no 兰州市交通运输局")

    # 2. Submit a message.
    step("submit a message")

    def new_message(url: str) -> CreateMessage:
        return CreateMessage(
            leader_id=governor.id,
            category_id=TRANSPORT_CATEGORY,
            kind=MessageKind.COMPLAINT,
            title="庆阳路口红绿灯坏了（Python客户端）",
            body="城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，早晚高峰非常拥堵，请尽快修理。",
            region_code="620102",
            address="城关区庆阳路与酒泉路交叉口",
            location=Location(lat=36.0611, lon=103.8343),
            visibility=Visibility.PUBLIC,
            contact_phone="13912345678",
            attachments=[Attachment(url=url, media_type=MediaType.IMAGEJPEG)],
        )

    problem(
        "plain-http attachment",
        create_message.sync_detailed(client=citizen, body=new_message("http://files.example.gov.cn/a.jpg")),
        422,
        "validation-failed",
        "attachments[0].url",
    )
    submission = ok(
        "submit",
        create_message.sync_detailed(
            client=citizen,
            body=new_message("https://files.example.gov.cn/2026/11/light.jpg"),
            idempotency_key=str(uuid.uuid4()),
        ),
        MessageSubmission,
    )
    message = submission.message
    check(message.status == MessageStatus.SUBMITTED, "submitted")
    mid = message.id

    # 3. The liaison office classifies and accepts it.
    step("classify and accept (liaison office)")
    classification = Classification(priority=Priority.ROUTINE, category_id=TRANSPORT_CATEGORY, tags=["红绿灯"])
    problem(
        "classify with a stale If-Match",
        classify_message.sync_detailed(mid, client=liaison, body=classification, if_match=etag(message.version + 7)),
        412,
        "precondition-failed",
    )
    message = ok(
        "classify",
        classify_message.sync_detailed(mid, client=liaison, body=classification, if_match=etag(message.version)),
        MessageDto,
    )
    problem(
        "a citizen accepts",
        accept_message.sync_detailed(mid, client=citizen, body=ActionNote(), if_match=etag(message.version)),
        403,
        "forbidden",
    )
    message = ok(
        "accept",
        accept_message.sync_detailed(
            mid, client=liaison, body=ActionNote(note="予以受理"), if_match=etag(message.version)
        ),
        MessageDto,
    )
    check(message.status == MessageStatus.ACCEPTED, f"accepted, is {message.status}")

    # 4. Assign it to the transport bureau.
    step("assign to 兰州市交通运输局")
    assign = AssignRequest(lead_unit_id=bureau.id, co_unit_ids=[], note="请办理")
    assigned = ok(
        "assign",
        create_assignment.sync_detailed(mid, client=liaison, body=assign, idempotency_key=str(uuid.uuid4())),
        AssignmentList,
    )
    lead = next((a for a in assigned.items if a.role == AssignmentRole.LEAD), None)
    if lead is None:
        raise ScenarioError("no lead assignment")
    check(lead.unit_id == bureau.id and lead.status == AssignmentStatus.PENDING, "a pending lead assignment")
    problem("assign again", create_assignment.sync_detailed(mid, client=liaison, body=assign), 409, "conflict")

    # 5. The unit signs for it.
    step("sign for (unit)")
    problem(
        "sign for an unknown assignment",
        sign_for_assignment.sync_detailed(NO_SUCH_ID, client=handler, body=StepNote()),
        404,
        "not-found",
    )
    signed = ok(
        "sign for",
        sign_for_assignment.sync_detailed(
            lead.id, client=handler, body=StepNote(note="已签收，正在核实"), if_match=etag(lead.version)
        ),
        AssignmentDto,
    )
    check(signed.status == AssignmentStatus.SIGNED_FOR, f"signed for, is {signed.status}")

    # 6. Draft the final reply.
    step("draft the final reply")
    draft = CreateReply(kind=ReplyKind.FINAL, body=GOOD_REPLY)
    problem("a citizen drafts", create_reply.sync_detailed(mid, client=citizen, body=draft), 403, "forbidden")
    reply = ok(
        "draft",
        create_reply.sync_detailed(mid, client=handler, body=draft, idempotency_key=str(uuid.uuid4())),
        ReplyDto,
    )
    check(reply.status == ReplyStatus.DRAFT, "a draft")
    rid = reply.id

    # 7. Submit it for review.
    step("submit the reply for review")
    problem("publish a draft", publish_reply.sync_detailed(rid, client=reviewer), 409, "conflict")
    reply = ok("submit reply", submit_reply.sync_detailed(rid, client=handler, if_match=etag(reply.version)), ReplyDto)
    check(reply.status == ReplyStatus.SUBMITTED, f"submitted, is {reply.status}")

    # 8. The reviewer approves it.
    step("approve (reviewer)")
    problem(
        "a handler approves",
        approve_reply.sync_detailed(rid, client=handler, body=ApproveReply()),
        403,
        "forbidden",
    )
    reply = ok(
        "approve",
        approve_reply.sync_detailed(
            rid, client=reviewer, body=ApproveReply(comment="同意发布"), if_match=etag(reply.version)
        ),
        ReplyDto,
    )
    check(reply.status == ReplyStatus.APPROVED, f"approved, is {reply.status}")

    # 9. ... and publishes it.
    step("publish (reviewer)")
    problem(
        "publish with a stale If-Match",
        publish_reply.sync_detailed(rid, client=reviewer, if_match=etag(reply.version - 1)),
        412,
        "precondition-failed",
    )
    reply = ok("publish", publish_reply.sync_detailed(rid, client=reviewer, if_match=etag(reply.version)), ReplyDto)
    check(reply.status == ReplyStatus.PUBLISHED, f"published, is {reply.status}")

    # 10. The citizen rates it.
    step("rate (citizen)")
    problem(
        "a handler rates",
        rate_reply.sync_detailed(mid, client=handler, body=RateReply(rating=Rating.SATISFIED)),
        403,
        "forbidden",
    )
    rating = ok(
        "rate",
        rate_reply.sync_detailed(
            mid, client=citizen, body=RateReply(rating=Rating.SATISFIED, comment="问题已解决，谢谢")
        ),
        FeedbackDto,
    )
    check(rating.rating == Rating.SATISFIED and rating.reply_id == rid, "rated the published reply")
    read = ok("read the message", get_message.sync_detailed(mid, client=citizen), MessageDto)
    check(read.status in (MessageStatus.CLOSED, MessageStatus.REPLIED), f"message status {read.status}")

    # 11. Statistics.
    step("statistics summary (analyst)")
    problem("a citizen reads statistics", statistics_summary.sync_detailed(client=citizen), 403, "forbidden")
    # The fold runs every few seconds: wait for it with a deadline.
    deadline = time.monotonic() + 20
    received_now = received()
    while received_now != received_before + 1 and time.monotonic() < deadline:
        time.sleep(0.5)
        received_now = received()
    check(
        received_now == received_before + 1,
        f"statistics count this run's message: {received_before} before, {received_now} now",
    )

    # 12. The public board (anonymous).
    step("public board (anonymous)")
    problem(
        "a one-character search",
        list_public_messages.sync_detailed(client=anonymous, q="灯"),
        422,
        "validation-failed",
        "q",
    )
    board = ok(
        "public board",
        list_public_messages.sync_detailed(client=anonymous, replied=True, limit=100),
        PublicMessagePage,
    )
    mine = next((m for m in board.items if m.tracking_no == message.tracking_no), None)
    if mine is None:
        raise ScenarioError(f"{message.tracking_no} is not on the public board")
    check(any(r.body == GOOD_REPLY for r in mine.replies), "the published reply is on the board")
    problem(
        "an unknown tracking number",
        get_public_message.sync_detailed("GS-2000-999999", client=anonymous),
        404,
        "not-found",
    )

    print(
        f"py: scenario passed: {checks} checks in {time.monotonic() - started:.1f} s ({message.tracking_no})",
        flush=True,
    )


if __name__ == "__main__":
    url = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LIUYAN_URL", "")).rstrip("/")
    if not url:
        print("usage: python clients/scenario.py BASE_URL", file=sys.stderr)
        sys.exit(2)
    try:
        main(url)
    except ScenarioError as e:
        print(f"py: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
