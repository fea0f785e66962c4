// The full liuyan scenario, driven by the TypeScript client generated from openapi/openapi.json
// (openapi-typescript types + openapi-fetch). Run by scripts/client-scenario:
//
//   node build/scenario.js BASE_URL
//
// Every step makes its call through the typed client and also one call that must fail, checking
// the status and that the body is application/problem+json with the expected `type`. Exit status
// 0 when every check passes.
import { randomUUID } from "node:crypto";
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./generated/ts/schema.js";

type Schemas = components["schemas"];
type Problem = Schemas["Problem"];
type Api = Client<paths>;

const baseUrl = (process.argv[2] ?? process.env.LIUYAN_URL ?? "").replace(/\/$/, "");
if (!baseUrl) {
    console.error("usage: node build/scenario.js BASE_URL");
    process.exit(2);
}

const TRANSPORT_CATEGORY = "01930000-0000-7000-8000-000000000002";
const GOOD_REPLY =
    "经核实，该路口信号灯因线路老化损坏，已于11月24日更换线路并恢复正常运行。感谢您对城市交通工作的关心和监督。";
const NO_SUCH_ID = "00000000-0000-4000-8000-000000000000";

let checks = 0;
function check(cond: boolean, what: string): void {
    checks += 1;
    if (!cond) throw new Error(`check failed: ${what}`);
}

function step(name: string): void {
    console.log(`ts: ${name}`);
}

/** The data of a successful call; throws with the problem otherwise. */
function ok<T>(what: string, r: { data?: T; error?: unknown; response: Response }): T {
    if (r.data === undefined || !r.response.ok) {
        throw new Error(`${what}: HTTP ${r.response.status} ${JSON.stringify(r.error)}`);
    }
    checks += 1;
    return r.data;
}

/** An expected failure: the status, problem+json, the `type`, and for 422 the failing fields. */
function problem(
    what: string,
    r: { data?: unknown; error?: Problem; response: Response },
    status: number,
    slug: string,
    field?: string,
): Problem {
    const got = r.response.status;
    if (got !== status) {
        throw new Error(`${what}: expected ${status} ${slug}, got ${got} ${JSON.stringify(r.error ?? r.data)}`);
    }
    const ct = r.response.headers.get("content-type") ?? "";
    check(ct.startsWith("application/problem+json"), `${what}: content-type ${ct}`);
    const p = r.error;
    if (p === undefined) throw new Error(`${what}: no problem body`);
    check(p.type === `urn:liuyan:problem:${slug}`, `${what}: type ${p.type}, expected ${slug}`);
    check(p.status === status, `${what}: problem status ${p.status}`);
    if (field !== undefined) {
        const fields = (p.errors ?? []).map((e) => e.field);
        check(fields.includes(field), `${what}: errors ${JSON.stringify(p.errors)} lack ${field}`);
    }
    console.log(`ts:   expected ${status} ${slug} (${what})`);
    return p;
}

function etag(version: number): string {
    return `"${version}"`;
}

function client(token?: string): Api {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    return createClient<paths>({ baseUrl, headers });
}

const anonymous = client();

async function login(email: string, password: string): Promise<Api> {
    const r = await anonymous.POST("/api/v1/auth/token", {
        body: { grant_type: "password", email, password },
    });
    const t: Schemas["TokenResponse"] = ok(`login ${email}`, r);
    check(t.token_type.toLowerCase() === "bearer", "token_type");
    return client(t.access_token);
}

async function main(): Promise<void> {
    const started = Date.now();

    // 1. Register a new citizen, log in.
    step("register a citizen");
    const email = `ts-${Date.now()}-${randomUUID().slice(0, 8)}@example.cn`;
    const password = "ts scenario password 2026";
    const reg: Schemas["RegisterRequest"] = { email, password, display_name: "类型化市民" };
    const account = ok(
        "register",
        await anonymous.POST("/api/v1/auth/register", {
            body: reg,
            params: { header: { "Idempotency-Key": randomUUID() } },
        }),
    );
    check(account.email === email && account.role === "citizen", "registered as citizen");
    problem(
        "password too short",
        await anonymous.POST("/api/v1/auth/register", {
            body: { email: `x-${email}`, password: "short", display_name: "短密码" },
        }),
        422,
        "validation-failed",
        "password",
    );
    problem(
        "wrong password",
        await anonymous.POST("/api/v1/auth/token", {
            body: { grant_type: "password", email, password: "not the password" },
        }),
        401,
        "unauthorized",
    );
    const citizen = await login(email, password);
    const admin = await login("admin@liuyan.example", "Demo-Admin-2026");
    const liaison = await login("liaison@liuyan.example", "Demo-Liaison-2026");
    const handler = await login("handler@liuyan.example", "Demo-Handler-2026");
    const reviewer = await login("reviewer@liuyan.example", "Demo-Reviewer-2026");
    const analyst = await login("analyst@liuyan.example", "Demo-Analyst-2026");

    const received = async (): Promise<number> => {
        const s = ok(
            "statistics",
            await analyst.GET("/api/v1/statistics/summary", {
                params: { query: { region_code: "620000", format: "json" } },
            }),
        );
        if (typeof s === "string") throw new Error("statistics: a download instead of JSON");
        const summary: Schemas["StatisticsSummary"] = s;
        return summary.figures.received;
    };
    // The province's count before this run's message: the statistics must count exactly it.
    const receivedBefore = await received();

    // Reference data: the governor (handled by the provincial liaison office), the unit.
    const leaders = ok(
        "list leaders",
        await admin.GET("/api/v1/leaders", { params: { query: { region_code: "620000", limit: 100 } } }),
    );
    const governor = leaders.items.find((l) => l.title === "甘肃省省长");
    if (governor === undefined) throw new Error("no governor among the leaders");
    const units = ok(
        "list units",
        await admin.GET("/api/v1/units", { params: { query: { q: "兰州市交通运输局", limit: 10 } } }),
    );
    const bureau = units.items.find((u) => u.name === "兰州市交通运输局");
    if (bureau === undefined) throw new Error("no 兰州市交通运输局");

    // 2. Submit a message.
    step("submit a message");
    const msg: Schemas["CreateMessage"] = {
        leader_id: governor.id,
        category_id: TRANSPORT_CATEGORY,
        kind: "complaint",
        title: "庆阳路口红绿灯坏了（TS客户端）",
        body: "城关区庆阳路与酒泉路交叉口的红绿灯已经坏了三天，早晚高峰非常拥堵，请尽快修理。",
        region_code: "620102",
        address: "城关区庆阳路与酒泉路交叉口",
        location: { lat: 36.0611, lon: 103.8343 },
        visibility: "public",
        contact_phone: "13912345678",
        attachments: [{ url: "https://files.example.gov.cn/2026/11/light.jpg", media_type: "image/jpeg" }],
    };
    problem(
        "plain-http attachment",
        await citizen.POST("/api/v1/messages", {
            body: { ...msg, attachments: [{ url: "http://files.example.gov.cn/a.jpg", media_type: "image/jpeg" }] },
        }),
        422,
        "validation-failed",
        "attachments[0].url",
    );
    const submission = ok(
        "submit",
        await citizen.POST("/api/v1/messages", {
            body: msg,
            params: { header: { "Idempotency-Key": randomUUID() } },
        }),
    );
    let message: Schemas["MessageDto"] = submission.message;
    check(message.status === "submitted", "submitted");
    check(/^[A-Z]+-\d{4}-\d+$/.test(message.tracking_no), `tracking number ${message.tracking_no}`);
    const id = message.id;

    // 3. The liaison office classifies and accepts it.
    step("classify and accept (liaison office)");
    problem(
        "classify with a stale If-Match",
        await liaison.PUT("/api/v1/messages/{id}/classification", {
            params: { path: { id }, header: { "If-Match": etag(message.version + 7) } },
            body: { priority: "routine", category_id: TRANSPORT_CATEGORY, tags: ["红绿灯"] },
        }),
        412,
        "precondition-failed",
    );
    message = ok(
        "classify",
        await liaison.PUT("/api/v1/messages/{id}/classification", {
            params: { path: { id }, header: { "If-Match": etag(message.version) } },
            body: { priority: "routine", category_id: TRANSPORT_CATEGORY, tags: ["红绿灯"] },
        }),
    );
    problem(
        "a citizen accepts",
        await citizen.POST("/api/v1/messages/{id}/accept", {
            params: { path: { id }, header: { "If-Match": etag(message.version) } },
            body: {},
        }),
        403,
        "forbidden",
    );
    message = ok(
        "accept",
        await liaison.POST("/api/v1/messages/{id}/accept", {
            params: { path: { id }, header: { "If-Match": etag(message.version) } },
            body: { note: "予以受理" },
        }),
    );
    check(message.status === "accepted", `accepted, is ${message.status}`);

    // 4. Assign it to the transport bureau.
    step("assign to 兰州市交通运输局");
    const assigned = ok(
        "assign",
        await liaison.POST("/api/v1/messages/{id}/assignments", {
            params: { path: { id }, header: { "Idempotency-Key": randomUUID() } },
            body: { lead_unit_id: bureau.id, co_unit_ids: [], note: "请办理" },
        }),
    );
    const lead = assigned.items.find((a) => a.role === "lead");
    if (lead === undefined) throw new Error("no lead assignment");
    check(lead.unit_id === bureau.id && lead.status === "pending", "a pending lead assignment");
    problem(
        "assign again",
        await liaison.POST("/api/v1/messages/{id}/assignments", {
            params: { path: { id } },
            body: { lead_unit_id: bureau.id, co_unit_ids: [], note: "请办理" },
        }),
        409,
        "conflict",
    );

    // 5. The unit signs for it.
    step("sign for (unit)");
    problem(
        "sign for an unknown assignment",
        await handler.POST("/api/v1/assignments/{id}/sign-for", {
            params: { path: { id: NO_SUCH_ID } },
            body: {},
        }),
        404,
        "not-found",
    );
    const signed = ok(
        "sign for",
        await handler.POST("/api/v1/assignments/{id}/sign-for", {
            params: { path: { id: lead.id }, header: { "If-Match": etag(lead.version) } },
            body: { note: "已签收，正在核实" },
        }),
    );
    check(signed.status === "signed_for", `signed for, is ${signed.status}`);

    // 6. Draft the final reply.
    step("draft the final reply");
    problem(
        "a citizen drafts",
        await citizen.POST("/api/v1/messages/{id}/replies", {
            params: { path: { id } },
            body: { kind: "final", body: GOOD_REPLY },
        }),
        403,
        "forbidden",
    );
    let reply: Schemas["ReplyDto"] = ok(
        "draft",
        await handler.POST("/api/v1/messages/{id}/replies", {
            params: { path: { id }, header: { "Idempotency-Key": randomUUID() } },
            body: { kind: "final", body: GOOD_REPLY },
        }),
    );
    check(reply.status === "draft", "a draft");
    const rid = reply.id;

    // 7. Submit it for review.
    step("submit the reply for review");
    problem(
        "publish a draft",
        await reviewer.POST("/api/v1/replies/{id}/publish", { params: { path: { id: rid } } }),
        409,
        "conflict",
    );
    reply = ok(
        "submit reply",
        await handler.POST("/api/v1/replies/{id}/submit", {
            params: { path: { id: rid }, header: { "If-Match": etag(reply.version) } },
        }),
    );
    check(reply.status === "submitted", `submitted, is ${reply.status}`);

    // 8. The reviewer approves it.
    step("approve (reviewer)");
    problem(
        "a handler approves",
        await handler.POST("/api/v1/replies/{id}/approve", {
            params: { path: { id: rid } },
            body: {},
        }),
        403,
        "forbidden",
    );
    reply = ok(
        "approve",
        await reviewer.POST("/api/v1/replies/{id}/approve", {
            params: { path: { id: rid }, header: { "If-Match": etag(reply.version) } },
            body: { comment: "同意发布" },
        }),
    );
    check(reply.status === "approved", `approved, is ${reply.status}`);

    // 9. ... and publishes it.
    step("publish (reviewer)");
    problem(
        "publish with a stale If-Match",
        await reviewer.POST("/api/v1/replies/{id}/publish", {
            params: { path: { id: rid }, header: { "If-Match": etag(reply.version - 1) } },
        }),
        412,
        "precondition-failed",
    );
    reply = ok(
        "publish",
        await reviewer.POST("/api/v1/replies/{id}/publish", {
            params: { path: { id: rid }, header: { "If-Match": etag(reply.version) } },
        }),
    );
    check(reply.status === "published", `published, is ${reply.status}`);

    // 10. The citizen rates it.
    step("rate (citizen)");
    problem(
        "a handler rates",
        await handler.PUT("/api/v1/messages/{id}/feedback", {
            params: { path: { id } },
            body: { rating: "satisfied" },
        }),
        403,
        "forbidden",
    );
    const rating = ok(
        "rate",
        await citizen.PUT("/api/v1/messages/{id}/feedback", {
            params: { path: { id } },
            body: { rating: "satisfied", comment: "问题已解决，谢谢" },
        }),
    );
    check(rating.rating === "satisfied" && rating.reply_id === rid, "rated the published reply");
    const read = ok("read the message", await citizen.GET("/api/v1/messages/{id}", { params: { path: { id } } }));
    check(read.status === "closed" || read.status === "replied", `message status ${read.status}`);

    // 11. Statistics.
    step("statistics summary (analyst)");
    problem(
        "a citizen reads statistics",
        await citizen.GET("/api/v1/statistics/summary", { params: { query: {} } }),
        403,
        "forbidden",
    );
    // The fold runs every few seconds: wait for it with a deadline.
    const deadline = Date.now() + 20_000;
    let receivedNow = await received();
    while (receivedNow !== receivedBefore + 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        receivedNow = await received();
    }
    check(
        receivedNow === receivedBefore + 1,
        `statistics count this run's message: ${receivedBefore} before, ${receivedNow} now`,
    );

    // 12. The public board (anonymous).
    step("public board (anonymous)");
    problem(
        "a one-character search",
        await anonymous.GET("/api/v1/public/messages", { params: { query: { q: "灯" } } }),
        422,
        "validation-failed",
        "q",
    );
    const board = ok(
        "public board",
        await anonymous.GET("/api/v1/public/messages", { params: { query: { replied: true, limit: 100 } } }),
    );
    const mine = board.items.find((m) => m.tracking_no === message.tracking_no);
    if (mine === undefined) throw new Error(`${message.tracking_no} is not on the public board`);
    check(mine.replies.some((r) => r.body === GOOD_REPLY), "the published reply is on the board");
    problem(
        "an unknown tracking number",
        await anonymous.GET("/api/v1/public/messages/{tracking_no}", {
            params: { path: { tracking_no: "GS-2000-999999" } },
        }),
        404,
        "not-found",
    );

    console.log(`ts: scenario passed: ${checks} checks in ${((Date.now() - started) / 1000).toFixed(1)} s (${message.tracking_no})`);
}

main().catch((e: unknown) => {
    console.error(`ts: FAILED: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
});
