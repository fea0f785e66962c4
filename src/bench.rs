//! `liuyan seed-bench --messages N`: realistic synthetic load for benchmarks. Messages with
//! Chinese titles and bodies of varied length, spread over a year, the regions and leaders of
//! the demo province, every intake status, and a valid hash-chained ledger.
//!
//! The load is a pipeline: generator threads turn chunks of messages into PostgreSQL's binary
//! `COPY` format (no text escaping or parsing on either side) while loader connections stream
//! the chunks generated before. Secondary indexes and the unique constraints no foreign key
//! depends on are dropped during the load and rebuilt from their own definitions afterwards
//! (far faster than maintaining them row by row, and the ledger's `(message_id, seq)` keys
//! arrive in random order); each table is vacuumed or analyzed before its indexes are built,
//! so the index builds read pages whose hint bits are already set.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Datelike, Duration, Utc};
use diesel::pg::CopyFormat;
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::calendar::local_date;
use crate::domain::ledger::{self, GENESIS};
use crate::domain::search::bigrams;
use crate::schema::{message_events as ev, messages as m, users};

const STREETS: &[&str] = &[
    "庆阳路",
    "酒泉路",
    "张掖路",
    "中山路",
    "南滨河路",
    "北滨河路",
    "东岗西路",
    "雁滩路",
    "西津西路",
    "建兰路",
    "敦煌路",
    "民主东路",
    "平凉路",
    "天水南路",
    "盘旋路",
    "安宁西路",
    "万新路",
    "北环路",
    "西固中路",
    "福利路",
    "秦州大道",
    "麦积大道",
    "藉河南路",
    "民主西路",
    "肃州路",
    "玉门路",
    "鸣沙路",
    "阳关大道",
    "七里河北街",
    "龚家湾",
];
const PLACES: &[&str] = &[
    "小区",
    "路口",
    "菜市场",
    "学校门口",
    "公交站",
    "医院附近",
    "老旧小区",
    "工地",
    "商业街",
    "地下通道",
    "农贸市场",
    "社区",
    "村口",
    "幼儿园",
    "停车场",
];
const ISSUES: &[(&str, &str)] = &[
    (
        "红绿灯坏了",
        "交通信号灯已经好几天不亮了，早晚高峰车辆拥堵，行人过马路非常危险",
    ),
    (
        "路灯不亮",
        "晚上整条路黑漆漆的，老人孩子出行很不安全，希望尽快修复",
    ),
    (
        "供暖温度不达标",
        "室内温度只有十五度左右，家里有老人孩子，多次联系物业没有解决",
    ),
    (
        "拖欠农民工工资",
        "工程完工半年了工资一直没有结清，工人们过年回家的路费都没有",
    ),
    (
        "夜间施工噪音扰民",
        "每天晚上十一点以后还在施工，噪音很大，影响周边居民休息",
    ),
    (
        "垃圾清运不及时",
        "垃圾桶满了好几天没人清理，气味很大，夏天蚊蝇滋生",
    ),
    (
        "公交班次太少",
        "高峰期等车要半个小时以上，车上非常拥挤，建议加密班次",
    ),
    (
        "道路坑洼积水",
        "路面坑坑洼洼，一下雨就积水，车辆经过溅人一身水",
    ),
    ("违规占道经营", "商贩长期占用人行道摆摊，行人只能走机动车道"),
    ("物业乱收费", "物业公司擅自提高收费标准，也没有公示收费依据"),
    (
        "学区划分咨询",
        "想咨询今年的学区划分政策，孩子入学需要准备哪些材料",
    ),
    ("医保报销咨询", "异地就医的医保报销比例和办理流程是怎样的"),
    ("下水道堵塞", "下水道经常堵塞返味，一楼住户家里都进了污水"),
    ("违章建筑", "有人在小区绿地上私搭乱建，多次举报没有处理"),
    ("自来水水质发黄", "最近自来水颜色发黄有异味，不敢直接饮用"),
    ("停车难", "小区周边车位严重不足，车辆乱停乱放堵塞消防通道"),
    ("养老金发放咨询", "今年养老金调整后什么时候发放，标准是多少"),
    (
        "企业排放异味",
        "附近企业夜间排放刺鼻气味，开窗就能闻到，怀疑偷排",
    ),
    (
        "农村道路硬化",
        "村里的道路还是土路，下雨天泥泞难行，希望能硬化",
    ),
    ("电梯故障频繁", "小区电梯经常故障停运，已经发生过困人事件"),
];
const SENTENCES: &[&str] = &[
    "希望有关部门尽快调查处理。",
    "这个问题已经持续很长时间了。",
    "我们多次向社区反映，一直没有得到答复。",
    "周边居民对此意见很大。",
    "恳请领导重视，帮助协调解决。",
    "如需核实情况，可以随时联系我。",
    "附近还有一所小学，孩子们上下学经过这里。",
    "谢谢领导在百忙之中阅读我的留言。",
    "去年也出现过同样的情况，后来不了了之。",
    "建议加强日常巡查和管理。",
];

/// A region a leader covers, with the units that have jurisdiction there.
struct Region {
    code: String,
    path: String,
    /// Departments and district governments whose region lies on `path`: the candidates for
    /// the lead assignment (territorial jurisdiction), found once here rather than per message.
    local_units: Vec<Uuid>,
}

/// A leader, the unit running intake for them, and the regions they cover.
struct LeaderPool {
    id: Uuid,
    intake_unit: Uuid,
    regions: Vec<Region>,
}

/// The reference data a load draws from.
struct Pools {
    leaders: Vec<LeaderPool>,
    categories: Vec<Uuid>,
    authors: Vec<Uuid>,
    admin: Uuid,
    /// Every unit's name (replies are published with it).
    unit_names: HashMap<Uuid, String>,
    calendar: crate::domain::calendar::Calendar,
    grams: Grams,
    /// Whether the loaders skip triggers (`session_replication_role = replica`). When they
    /// cannot, the deadlines' trigger counts a message's overdue deadlines itself.
    triggers_off: bool,
}

fn load_pools(conn: &mut PgConnection, authors: Vec<Uuid>) -> anyhow::Result<Pools> {
    use crate::schema::{categories, leaders, regions, units};
    let units: Vec<(Uuid, String)> = units::table
        .filter(units::active.eq(true))
        .filter(units::kind.eq_any(["department", "district_government"]))
        .select((units::id, units::region_code))
        .load(conn)?;
    let rows: Vec<(Uuid, Uuid, String)> = leaders::table
        .select((leaders::id, leaders::unit_id, leaders::region_code))
        .load(conn)?;
    let mut out = Vec::new();
    for (id, intake_unit, region) in rows {
        let path: String = regions::table
            .find(&region)
            .select(regions::path)
            .first(conn)?;
        let inside: Vec<(String, String)> = regions::table
            .filter(regions::path.like(format!("{path}%")))
            .select((regions::code, regions::path))
            .load(conn)?;
        let regions = inside
            .into_iter()
            .map(|(code, path)| Region {
                local_units: units
                    .iter()
                    .filter(|(_, unit_region)| path.split('/').any(|c| c == unit_region))
                    .map(|(unit, _)| *unit)
                    .collect(),
                code,
                path,
            })
            .collect();
        out.push(LeaderPool {
            id,
            intake_unit,
            regions,
        });
    }
    let categories = categories::table.select(categories::id).load(conn)?;
    let admin: Uuid = users::table
        .filter(users::role.eq("admin"))
        .select(users::id)
        .first(conn)?;
    let unit_names = units::table
        .select((units::id, units::name))
        .load::<(Uuid, String)>(conn)?
        .into_iter()
        .collect();
    let today = local_date(Utc::now());
    let calendar = crate::store::deadlines::calendar(
        conn,
        today - Duration::days(800),
        today + Duration::days(800),
    )
    .map_err(|e| anyhow::anyhow!("calendar: {e}"))?;
    Ok(Pools {
        leaders: out,
        categories,
        authors,
        admin,
        unit_names,
        calendar,
        grams: Grams::new()?,
        triggers_off: false,
    })
}

/// Make `n` citizen accounts (one shared password hash: creating 10,000 argon2 hashes is not
/// what is being measured).
fn bench_citizens(conn: &mut PgConnection, n: usize) -> anyhow::Result<Vec<Uuid>> {
    let existing: Vec<Uuid> = users::table
        .filter(users::email.like("bench-%@bench.liuyan.example"))
        .select(users::id)
        .load(conn)?;
    if existing.len() >= n {
        return Ok(existing);
    }
    let hash = crate::auth::password::hash_password("bench citizen password")?;
    let start = existing.len();
    let mut rows = Vec::new();
    for i in start..n {
        rows.push((
            users::id.eq(Uuid::now_v7()),
            users::email.eq(format!("bench-{i:06}@bench.liuyan.example")),
            users::password_hash.eq(hash.clone()),
            users::display_name.eq(format!("市民{i}")),
            users::role.eq("citizen"),
        ));
    }
    for chunk in rows.chunks(5_000) {
        diesel::insert_into(users::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(users::table
        .filter(users::email.like("bench-%@bench.liuyan.example"))
        .select(users::id)
        .load(conn)?)
}

/// A message's title.
fn write_title(out: &mut String, street: &str, place: &str, issue: &str) {
    out.push_str(street);
    out.push_str(place);
    out.push_str(issue);
}

/// The first sentence of a message's body.
fn write_opening(out: &mut String, street: &str, place: &str, detail: &str) {
    out.push_str("我家住在");
    out.push_str(street);
    out.push_str("附近，");
    out.push_str(place);
    out.push_str(detail);
    out.push('。');
}

/// The search bigrams of generated messages, precomputed by piece. A message's text is
/// `"{title}\n{body}"`, its body an opening sentence and further sentences, each ending in
/// punctuation; `bigrams` pairs no characters across punctuation or line breaks, so the bigrams
/// of the text are the union of those of its pieces (checked against `bigrams` itself in debug
/// builds, hence by the bench-data test).
struct Grams {
    /// Every bigram of every piece, in the order `bigrams` returns them.
    all: Vec<String>,
    /// Words of a set: the sets are bitsets over `all`.
    words: usize,
    /// By (street, place, issue), `words` each.
    titles: Vec<u64>,
    openings: Vec<u64>,
    /// By sentence, `words` each.
    sentences: Vec<u64>,
}

impl Grams {
    fn new() -> anyhow::Result<Self> {
        let mut titles = Vec::new();
        let mut openings = Vec::new();
        let mut text = String::new();
        for street in STREETS {
            for place in PLACES {
                for (issue, detail) in ISSUES {
                    text.clear();
                    write_title(&mut text, street, place, issue);
                    titles.push(bigrams(&text));
                    text.clear();
                    write_opening(&mut text, street, place, detail);
                    anyhow::ensure!(
                        text.ends_with(|c: char| !c.is_alphanumeric()),
                        "an opening sentence must end in punctuation: {text}"
                    );
                    openings.push(bigrams(&text));
                }
            }
        }
        let mut sentences = Vec::new();
        for s in SENTENCES {
            anyhow::ensure!(
                s.ends_with(|c: char| !c.is_alphanumeric()),
                "a sentence must end in punctuation: {s}"
            );
            sentences.push(bigrams(s));
        }
        let all: BTreeSet<&String> = titles
            .iter()
            .chain(&openings)
            .chain(&sentences)
            .flatten()
            .collect();
        let number: HashMap<&String, usize> =
            all.iter().enumerate().map(|(k, g)| (*g, k)).collect();
        let words = all.len().div_ceil(64);
        let bits = |sets: &[BTreeSet<String>]| -> Vec<u64> {
            let mut out = vec![0u64; sets.len() * words];
            for (k, set) in sets.iter().enumerate() {
                for g in set {
                    let b = number[g];
                    out[k * words + b / 64] |= 1 << (b % 64);
                }
            }
            out
        };
        Ok(Self {
            titles: bits(&titles),
            openings: bits(&openings),
            sentences: bits(&sentences),
            all: all.into_iter().cloned().collect(),
            words,
        })
    }

    /// The number of the title and the opening of (street, place, issue), by index.
    fn piece(street: usize, place: usize, issue: usize) -> usize {
        (street * PLACES.len() + place) * ISSUES.len() + issue
    }

    /// Union of the pieces' sets into `set`: title and opening (`Grams::piece`), then the
    /// sentences.
    fn message(&self, set: &mut [u64], piece: usize, sentences: &[usize]) {
        let w = self.words;
        for (k, word) in set.iter_mut().enumerate() {
            *word = self.titles[piece * w + k] | self.openings[piece * w + k];
        }
        for &s in sentences {
            for (k, word) in set.iter_mut().enumerate() {
                *word |= self.sentences[s * w + k];
            }
        }
    }

    /// The bigrams of a set, in order.
    fn iter<'a>(&'a self, set: &'a [u64]) -> impl Iterator<Item = &'a str> + 'a {
        set.iter().enumerate().flat_map(move |(k, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let b = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(self.all[k * 64 + b].as_str())
            })
        })
    }
}

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Type OID of `text`, for array elements.
const TEXT_OID: u32 = 25;

/// One table's rows in PostgreSQL's binary `COPY` format: a header, then per row the number of
/// fields and each field as its length and its binary value (`-1` for NULL), then a trailer.
/// The field count of a row is filled in when the next row starts, so a new column is one more
/// field call in `generate` and one more column in `copy`.
struct CopyBuf {
    buf: Vec<u8>,
    rows: usize,
    row_start: Option<usize>,
    fields: i16,
}

impl CopyBuf {
    fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes + 32);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Self {
            buf,
            rows: 0,
            row_start: None,
            fields: 0,
        }
    }

    fn close_row(&mut self) {
        if let Some(at) = self.row_start.take() {
            self.buf[at..at + 2].copy_from_slice(&self.fields.to_be_bytes());
        }
    }

    fn row(&mut self) {
        self.close_row();
        self.row_start = Some(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.fields = 0;
        self.rows += 1;
    }

    /// The rows and the trailer.
    fn finish(&mut self) {
        self.close_row();
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
    }

    fn field(&mut self, value: &[u8]) {
        self.fields += 1;
        let len = i32::try_from(value.len()).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(value);
    }

    fn null(&mut self) {
        self.fields += 1;
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn text(&mut self, s: &str) {
        self.field(s.as_bytes());
    }

    fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    fn uuid(&mut self, id: Uuid) {
        self.field(id.as_bytes());
    }

    fn opt_uuid(&mut self, id: Option<Uuid>) {
        match id {
            Some(id) => self.uuid(id),
            None => self.null(),
        }
    }

    fn int4(&mut self, v: i32) {
        self.field(&v.to_be_bytes());
    }

    fn opt_float8(&mut self, v: Option<f64>) {
        match v {
            Some(v) => self.field(&v.to_bits().to_be_bytes()),
            None => self.null(),
        }
    }

    fn timestamp(&mut self, t: DateTime<Utc>) {
        self.field(&(t.timestamp_micros() - PG_EPOCH_MICROS).to_be_bytes());
    }

    fn opt_timestamp(&mut self, t: Option<DateTime<Utc>>) {
        match t {
            Some(t) => self.timestamp(t),
            None => self.null(),
        }
    }

    /// `jsonb`: a version byte, then the JSON text.
    fn jsonb(&mut self, json: &[u8]) {
        self.fields += 1;
        let len = i32::try_from(json.len() + 1).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.push(1);
        self.buf.extend_from_slice(json);
    }

    /// `text[]` (one dimension from 1; none when empty).
    fn text_array<'a>(&mut self, items: impl Iterator<Item = &'a str>) {
        self.fields += 1;
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]); // field length, below
        self.buf.extend_from_slice(&1i32.to_be_bytes()); // dimensions
        self.buf.extend_from_slice(&0i32.to_be_bytes()); // no NULLs
        self.buf.extend_from_slice(&TEXT_OID.to_be_bytes());
        let count_at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]); // elements, below
        self.buf.extend_from_slice(&1i32.to_be_bytes()); // lower bound
        let mut n = 0i32;
        for item in items {
            let len = i32::try_from(item.len()).unwrap_or(i32::MAX);
            self.buf.extend_from_slice(&len.to_be_bytes());
            self.buf.extend_from_slice(item.as_bytes());
            n += 1;
        }
        if n == 0 {
            // The empty array has no dimensions.
            self.buf.truncate(start + 4);
            self.buf.extend_from_slice(&0i32.to_be_bytes());
            self.buf.extend_from_slice(&0i32.to_be_bytes());
            self.buf.extend_from_slice(&TEXT_OID.to_be_bytes());
        } else {
            self.buf[count_at..count_at + 4].copy_from_slice(&n.to_be_bytes());
        }
        let len = i32::try_from(self.buf.len() - start - 4).unwrap_or(i32::MAX);
        self.buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// A JSON value of a ledger payload.
enum J<'a> {
    Str(&'a str),
    Id(Uuid),
    Int(i64),
    Null,
    EmptyArray,
}

/// A JSON string, escaped as `serde_json` escapes it.
fn json_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

fn json_uuid(out: &mut Vec<u8>, id: Uuid) {
    out.push(b'"');
    out.extend_from_slice(
        id.hyphenated()
            .encode_lower(&mut Uuid::encode_buffer())
            .as_bytes(),
    );
    out.push(b'"');
}

/// A JSON object as `serde_json` prints a `Value` (compact, keys in byte order: the caller
/// lists them so).
fn json_object(out: &mut Vec<u8>, fields: &[(&str, J<'_>)]) {
    debug_assert!(fields.windows(2).all(|w| w[0].0 < w[1].0), "keys in order");
    out.push(b'{');
    for (k, (key, value)) in fields.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        json_str(out, key);
        out.push(b':');
        match value {
            J::Str(s) => json_str(out, s),
            J::Id(id) => json_uuid(out, *id),
            J::Int(n) => {
                let _ = write!(out, "{n}");
            }
            J::Null => out.extend_from_slice(b"null"),
            J::EmptyArray => out.extend_from_slice(b"[]"),
        }
    }
    out.push(b'}');
}

/// RFC 3339 in UTC with microseconds, as `ledger::canonical` writes timestamps (a test
/// compares them).
fn rfc3339_micros(out: &mut Vec<u8>, t: DateTime<Utc>) {
    use chrono::Timelike;
    let year = t.year();
    let micros = t.timestamp_subsec_micros();
    if !(0..=9999).contains(&year) || micros >= 1_000_000 {
        out.extend_from_slice(
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .as_bytes(),
        );
        return;
    }
    push_digits(out, year.unsigned_abs(), 4);
    out.push(b'-');
    push_digits(out, t.month(), 2);
    out.push(b'-');
    push_digits(out, t.day(), 2);
    out.push(b'T');
    push_digits(out, t.hour(), 2);
    out.push(b':');
    push_digits(out, t.minute(), 2);
    out.push(b':');
    push_digits(out, t.second(), 2);
    out.push(b'.');
    push_digits(out, micros, 6);
    out.push(b'Z');
}

/// The last `n` decimal digits of `v`, zero-padded.
fn push_digits(out: &mut Vec<u8>, v: u32, n: usize) {
    let mut d = [0u8; 10];
    let mut v = v;
    for k in (0..n).rev() {
        d[k] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&d[..n]);
}

/// Ids of the rows a message brings along (assignment, reply, feedback, deadlines): UUIDv7 of
/// the load's start, then the message's row number and which of its rows it is, so they are
/// unique and ascend in load order (appended to their primary keys) without a random number
/// per row.
const ASSIGNMENT: u64 = 1;
const REPLY: u64 = 2;
const FEEDBACK: u64 = 3;
const SIGN_FOR_DEADLINE: u64 = 4;
const REPLY_DEADLINE: u64 = 5;

fn row_id(now_ms: u64, i: usize, which: u64) -> Uuid {
    let counter = ((i as u64) << 3) | which;
    Uuid::from_u64_pair(
        (now_ms << 16) | 0x7000 | ((counter >> 62) & 0x0fff),
        0x8000_0000_0000_0000 | (counter & 0x3fff_ffff_ffff_ffff),
    )
}

const ROUTINE_POLICY: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_d002);
const IMPORTANT_POLICY: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_d001);

/// Binary COPY rows for messages `[from, to)`.
fn generate(pools: &Pools, from: usize, to: usize, seed: u64, now: DateTime<Utc>) -> Generated {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = to - from;
    let mut g = Generated {
        messages: CopyBuf::with_capacity(n * 1_500),
        events: CopyBuf::with_capacity(n * 1_800),
        assignments: CopyBuf::with_capacity(n * 110),
        deadlines: CopyBuf::with_capacity(n * 190),
        replies: CopyBuf::with_capacity(n * 50),
        revisions: CopyBuf::with_capacity(n * 40),
        feedback: CopyBuf::with_capacity(n * 15),
    };
    let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    // Scratch space, reused from message to message.
    let mut title = String::new();
    let mut body = String::new();
    let mut reply_body = String::new();
    let mut sentences: Vec<usize> = Vec::new();
    let mut steps: Vec<&str> = Vec::with_capacity(8);
    let mut payload: Vec<u8> = Vec::new();
    let mut canonical: Vec<u8> = Vec::new();
    let mut number = String::new();
    let mut grams = vec![0u64; pools.grams.words];
    for i in from..to {
        let leader = &pools.leaders[rng.random_range(0..pools.leaders.len())];
        let region = &leader.regions[rng.random_range(0..leader.regions.len())];
        let path = region.path.as_str();
        let street_no = rng.random_range(0..STREETS.len());
        let place_no = rng.random_range(0..PLACES.len());
        let issue_no = rng.random_range(0..ISSUES.len());
        let (street, place) = (STREETS[street_no], PLACES[place_no]);
        let (issue, detail) = ISSUES[issue_no];
        title.clear();
        write_title(&mut title, street, place, issue);
        body.clear();
        write_opening(&mut body, street, place, detail);
        sentences.clear();
        for _ in 0..rng.random_range(0..8) {
            let s = rng.random_range(0..SENTENCES.len());
            sentences.push(s);
            body.push_str(SENTENCES[s]);
        }
        let category = pools.categories[rng.random_range(0..pools.categories.len())];
        let kind =
            ["consultation", "suggestion", "complaint", "help_request"][rng.random_range(0..4)];
        let author = pools.authors[rng.random_range(0..pools.authors.len())];
        let submitted =
            ledger::db_time(now - Duration::seconds(rng.random_range(60..365 * 86_400)));
        // A UUIDv7 layout: submission time in milliseconds, then the row number.
        let millis = u64::try_from(submitted.timestamp_millis()).unwrap_or(0);
        let id = Uuid::from_u64_pair(
            (millis << 16) | 0x7000 | (i as u64 & 0x0fff),
            0x8000_0000_0000_0000 | (i as u64 & 0x3fff_ffff_ffff_ffff),
        );
        let roll = rng.random_range(0..100);
        let (mut status, path_steps): (&str, &[&str]) = match roll {
            0..=14 => ("submitted", &["submit"]),
            15..=29 => ("accepted", &["submit", "classify", "accept"]),
            30..=44 => ("assigned", &["submit", "classify", "accept", "assign"]),
            45..=64 => (
                "in_progress",
                &["submit", "classify", "accept", "assign", "sign_for"],
            ),
            // Answered: the final reply is published; most are rated, and those whose rating
            // window has ended without an unsatisfied rating are closed (below).
            65..=74 => (
                "replied",
                &[
                    "submit",
                    "classify",
                    "accept",
                    "assign",
                    "sign_for",
                    "publish_reply",
                ],
            ),
            75..=89 => ("rejected", &["submit", "reject"]),
            _ => ("withdrawn", &["submit", "withdraw"]),
        };
        steps.clear();
        steps.extend_from_slice(path_steps);
        let rating = (status == "replied" && rng.random_range(0..10) < 7).then(|| {
            match rng.random_range(0..20) {
                0..=11 => "satisfied",
                12..=16 => "basically_satisfied",
                _ => "unsatisfied",
            }
        });
        if rating.is_some() {
            steps.push("rate");
        }
        let reply_id = row_id(now_ms, i, REPLY);
        let feedback_id = row_id(now_ms, i, FEEDBACK);
        // The lead unit: a department or district government whose region lies on the
        // message's region path (territorial jurisdiction), else the intake unit.
        let lead_unit = if region.local_units.is_empty() {
            leader.intake_unit
        } else {
            region.local_units[rng.random_range(0..region.local_units.len())]
        };
        let assignment_id = row_id(now_ms, i, ASSIGNMENT);
        let mut assigned_at = None;
        let mut signed_at = None;
        let priority = (status != "submitted" && steps.contains(&"accept")).then(|| {
            if rng.random_range(0..5) == 0 {
                "important"
            } else {
                "routine"
            }
        });
        let rejection = (status == "rejected").then(|| {
            [
                "out_of_scope",
                "insufficient_information",
                "abusive_content",
            ][rng.random_range(0..3)]
        });
        // The ledger.
        let mut head = GENESIS;
        // Ledger events after the steps (deadline alarms), and the time of the last event.
        let mut alarms = 0usize;
        let mut last_at = submitted;
        let mut at = submitted;
        let mut accepted_at = None;
        let mut published_at = None;
        let mut feedback_until = None;
        let mut closed_at = None;
        let mut from_status: Option<&str> = None;
        let mut k = 0;
        while k < steps.len() {
            let step = steps[k];
            if k > 0 {
                at = ledger::db_time(at + Duration::minutes(rng.random_range(5..4 * 24 * 60)));
            }
            if step == "close" {
                // The scheduler closes it when the rating window ends.
                at = feedback_until.unwrap_or(at);
            }
            payload.clear();
            let p = &mut payload;
            let (to_status, actor_role, actor) = match step {
                "submit" => {
                    json_object(p, &[("kind", J::Str(kind)), ("title", J::Str(&title))]);
                    ("submitted", "citizen", author)
                }
                "classify" => {
                    let priority = priority.map_or(J::Null, J::Str);
                    json_object(p, &[("priority", priority), ("tags", J::EmptyArray)]);
                    ("submitted", "admin", pools.admin)
                }
                "accept" => {
                    json_object(p, &[("note", J::Null)]);
                    ("accepted", "admin", pools.admin)
                }
                "assign" => {
                    json_object(
                        p,
                        &[
                            ("lead_assignment_id", J::Id(assignment_id)),
                            ("lead_unit_id", J::Id(lead_unit)),
                        ],
                    );
                    ("assigned", "admin", pools.admin)
                }
                "sign_for" => {
                    json_object(
                        p,
                        &[
                            ("assignment_id", J::Id(assignment_id)),
                            ("unit_id", J::Id(lead_unit)),
                        ],
                    );
                    ("in_progress", "admin", pools.admin)
                }
                "publish_reply" => {
                    json_object(
                        p,
                        &[
                            ("kind", J::Str("final")),
                            ("reply_id", J::Id(reply_id)),
                            ("revision", J::Int(1)),
                        ],
                    );
                    ("replied", "reviewer", pools.admin)
                }
                "rate" => {
                    json_object(
                        p,
                        &[
                            ("feedback_id", J::Id(feedback_id)),
                            ("rating", rating.map_or(J::Null, J::Str)),
                            ("reply_id", J::Id(reply_id)),
                        ],
                    );
                    ("replied", "citizen", author)
                }
                "close" => {
                    json_object(p, &[("reason", J::Str("feedback_window_ended"))]);
                    ("closed", "system", pools.admin)
                }
                "reject" => {
                    json_object(
                        p,
                        &[
                            ("note", J::Str("不予受理")),
                            ("reason", rejection.map_or(J::Null, J::Str)),
                        ],
                    );
                    ("rejected", "admin", pools.admin)
                }
                _ => {
                    json_object(p, &[("note", J::Null)]);
                    ("withdrawn", "citizen", author)
                }
            };
            match step {
                "accept" => accepted_at = Some(at),
                "assign" => assigned_at = Some(at),
                "sign_for" => signed_at = Some(at),
                "publish_reply" => {
                    published_at = Some(at);
                    let until = ledger::db_time(at + Duration::days(15));
                    feedback_until = Some(until);
                    if until <= now && rating != Some("unsatisfied") {
                        steps.push("close");
                    }
                }
                "close" => {
                    closed_at = Some(at);
                    status = "closed";
                }
                _ => {}
            }
            head = event_row(
                &mut g.events,
                &mut canonical,
                &head,
                &Event {
                    message: id,
                    seq: k as i32 + 1,
                    actor: (actor_role != "system").then_some(actor),
                    role: actor_role,
                    action: step,
                    from: from_status,
                    to: to_status,
                    payload: &payload,
                    at,
                },
            );
            from_status = Some(to_status);
            k += 1;
        }
        // Facts the statistics read from the message row (the store keeps them where their
        // sources change; see migration 000005): the open deadlines already overdue, and
        // whether the final reply met its deadline.
        let mut overdue_deadlines = 0i32;
        let mut reply_on_time: Option<bool> = None;
        if let Some(assigned) = assigned_at {
            let prio = priority.unwrap_or("routine");
            let reply_days = if prio == "important" { 5 } else { 15 };
            let policy = if prio == "important" {
                IMPORTANT_POLICY
            } else {
                ROUTINE_POLICY
            };
            let a = &mut g.assignments;
            a.row();
            a.uuid(assignment_id);
            a.uuid(id);
            a.uuid(lead_unit);
            a.text("lead");
            a.text("assigned");
            a.text(match (signed_at, published_at) {
                (Some(_), Some(_)) => "completed",
                (Some(_), None) => "signed_for",
                _ => "pending",
            });
            a.text("");
            a.uuid(pools.admin);
            a.timestamp(assigned);
            a.opt_uuid(signed_at.map(|_| pools.admin));
            a.opt_timestamp(signed_at);
            a.opt_timestamp(published_at);
            a.uuid(leader.intake_unit);
            a.text(path);
            let deadlines = &mut g.deadlines;
            let mut deadline = |kind: &str,
                                start: DateTime<Utc>,
                                days: u32,
                                seq: i32,
                                closed: Option<DateTime<Utc>>,
                                closed_by: &str|
             -> Option<(Uuid, DateTime<Utc>, DateTime<Utc>)> {
                let due = crate::domain::calendar::compute_due(
                    &pools.calendar,
                    &crate::domain::calendar::DeadlineInput {
                        started_at: start,
                        limit_days: days,
                        extension_days: 0,
                        pauses: Vec::new(),
                        due_soon_days: 1,
                    },
                )?;
                let state = match closed {
                    Some(c) if c <= due.due_at => "met",
                    Some(_) => "missed",
                    None => "open",
                };
                if kind == "reply" && closed.is_some() {
                    reply_on_time = Some(state == "met");
                }
                if closed.is_none() && due.due_at <= now {
                    overdue_deadlines += 1;
                }
                let start_action = if kind == "sign_for" {
                    "assign"
                } else {
                    "sign_for"
                };
                // A running system would have raised the alarms already due (the ledger events
                // follow below), so the scheduler has nothing to catch up on in a benchmark.
                let open = closed.is_none();
                let raised = |t: DateTime<Utc>| (open && t <= now).then_some(t);
                let deadline_id = row_id(
                    now_ms,
                    i,
                    if kind == "sign_for" {
                        SIGN_FOR_DEADLINE
                    } else {
                        REPLY_DEADLINE
                    },
                );
                let d = &mut *deadlines;
                d.row();
                d.uuid(deadline_id);
                d.uuid(id);
                d.uuid(assignment_id);
                d.text(kind);
                d.uuid(lead_unit);
                d.uuid(leader.intake_unit);
                d.text(path);
                d.uuid(leader.id);
                d.text(prio);
                d.uuid(policy);
                d.int4(1);
                d.int4(i32::try_from(days).unwrap_or(i32::MAX));
                d.int4(1);
                d.timestamp(start);
                d.text(start_action);
                d.int4(seq);
                d.timestamp(due.due_at);
                d.timestamp(due.due_soon_at);
                d.text(state);
                d.opt_timestamp(closed);
                d.opt_text(closed.map(|_| closed_by));
                d.opt_timestamp(raised(due.due_soon_at));
                d.opt_timestamp(raised(due.due_at));
                open.then_some((deadline_id, due.due_soon_at, due.due_at))
            };
            let running = match signed_at {
                Some(signed) => {
                    deadline("sign_for", assigned, 1, 4, Some(signed), "sign_for");
                    deadline(
                        "reply",
                        signed,
                        reply_days,
                        5,
                        published_at,
                        "publish_reply",
                    )
                }
                None => deadline("sign_for", assigned, 1, 4, None, "sign_for"),
            };
            if let Some((deadline_id, soon, due)) = running {
                for (action, t) in [("deadline_due_soon", soon), ("deadline_overdue", due)] {
                    if t > now {
                        break;
                    }
                    payload.clear();
                    json_object(
                        &mut payload,
                        &[
                            ("deadline_id", J::Id(deadline_id)),
                            ("unit_id", J::Id(lead_unit)),
                        ],
                    );
                    alarms += 1;
                    head = event_row(
                        &mut g.events,
                        &mut canonical,
                        &head,
                        &Event {
                            message: id,
                            seq: (steps.len() + alarms) as i32,
                            actor: None,
                            role: "system",
                            action,
                            from: Some(status),
                            to: status,
                            payload: &payload,
                            at: t,
                        },
                    );
                    last_at = t;
                }
            }
        }
        if let Some(published) = published_at {
            let unit_name = pools
                .unit_names
                .get(&lead_unit)
                .map(String::as_str)
                .unwrap_or("有关单位");
            reply_body.clear();
            reply_body.push_str("您好！您反映的");
            reply_body.push_str(&title);
            reply_body.push_str("问题，经");
            reply_body.push_str(unit_name);
            reply_body.push_str("现场核实，已安排专人整改处理，感谢您的监督。");
            let admin = pools.admin;
            let r = &mut g.replies;
            r.row();
            r.uuid(reply_id);
            r.uuid(id);
            r.uuid(assignment_id);
            r.uuid(lead_unit);
            r.uuid(leader.intake_unit);
            r.text(path);
            r.text("final");
            r.text("published");
            r.text(&reply_body);
            r.jsonb(b"[]");
            r.int4(1);
            r.uuid(lead_unit);
            r.uuid(admin);
            r.timestamp(published);
            r.uuid(admin);
            r.timestamp(published);
            r.timestamp(published);
            r.uuid(admin);
            r.timestamp(published);
            r.uuid(admin);
            r.timestamp(published);
            r.text(unit_name);
            let v = &mut g.revisions;
            v.row();
            v.uuid(reply_id);
            v.int4(1);
            v.text(&reply_body);
            v.jsonb(b"[]");
            v.uuid(admin);
            v.timestamp(published);
            v.uuid(admin);
            v.timestamp(published);
            v.text("approved");
            v.uuid(admin);
            v.timestamp(published);
            if let Some(r) = rating {
                let flag = if r == "unsatisfied" { "open" } else { "none" };
                let rated = published + Duration::hours(rng.random_range(1..24 * 5));
                let f = &mut g.feedback;
                f.row();
                f.uuid(feedback_id);
                f.uuid(id);
                f.uuid(reply_id);
                f.uuid(author);
                f.uuid(lead_unit);
                f.text(path);
                f.text(r);
                f.text("");
                f.int4(0);
                f.text(flag);
                f.timestamp(rated);
                f.timestamp(rated);
            }
        }
        let last_at = if alarms > 0 { last_at } else { at };
        pools.grams.message(
            &mut grams,
            Grams::piece(street_no, place_no, issue_no),
            &sentences,
        );
        debug_assert!(
            pools
                .grams
                .iter(&grams)
                .eq(bigrams(&format!("{title}\n{body}"))
                    .iter()
                    .map(String::as_str)),
            "precomputed bigrams differ from search::bigrams"
        );
        let location = match rng.random_range(0..3) {
            0 => None,
            _ => {
                // The coordinates as five decimals say (what the text format sent).
                let mut five = |v: f64| {
                    number.clear();
                    let _ = std::fmt::Write::write_fmt(&mut number, format_args!("{v:.5}"));
                    number.parse::<f64>().unwrap_or(v)
                };
                let lat = five(36.0 + rng.random_range(0.0..0.2));
                let lon = five(103.7 + rng.random_range(0.0..0.3));
                Some((lat, lon))
            }
        };
        let visibility = if rng.random_range(0..4) == 0 {
            "private"
        } else {
            "public"
        };
        let events = i32::try_from(steps.len() + alarms).unwrap_or(i32::MAX);
        // One field per column of `copy`'s list for `messages`, in its order.
        let w = &mut g.messages;
        w.row();
        w.uuid(id);
        number.clear();
        let _ = std::fmt::Write::write_fmt(
            &mut number,
            format_args!("GS-{}-{:07}", submitted.year(), i + 1),
        );
        w.text(&number);
        w.uuid(author);
        w.text("web");
        w.uuid(leader.id);
        w.uuid(category);
        w.text(kind);
        w.text(&title);
        w.text(&body);
        w.text(&region.code);
        w.text(path);
        w.text(street);
        w.opt_float8(location.map(|l| l.0));
        w.opt_float8(location.map(|l| l.1));
        w.text(visibility);
        w.null();
        w.text("13800138000");
        w.jsonb(b"[]");
        w.text(status);
        w.opt_text(priority);
        w.text_array(std::iter::empty());
        w.opt_text(rejection);
        w.opt_text(rejection.map(|_| "不予受理"));
        w.null();
        w.uuid(leader.intake_unit);
        w.opt_uuid(assigned_at.map(|_| lead_unit));
        w.text_array(pools.grams.iter(&grams));
        w.int4(events);
        w.int4(events);
        w.field(&head);
        w.timestamp(submitted);
        w.opt_timestamp(accepted_at);
        w.timestamp(last_at);
        w.opt_timestamp(published_at);
        // The window of a closed message is over; an open one is still running.
        w.opt_timestamp(feedback_until);
        w.opt_timestamp(closed_at);
        w.int4(if pools.triggers_off {
            overdue_deadlines
        } else {
            0
        });
        match reply_on_time {
            Some(met) => w.field(&[u8::from(met)]),
            None => w.null(),
        }
        match published_at {
            Some(published) => {
                let (from, to) = (local_date(submitted), local_date(published));
                let days = pools.calendar.working_days_between(from, to);
                w.int4(i32::try_from(days).unwrap_or(i32::MAX));
            }
            None => w.null(),
        }
        w.opt_text(rating);
    }
    for buf in g.tables_mut() {
        buf.finish();
    }
    g
}

/// One ledger event of a generated message.
struct Event<'a> {
    message: Uuid,
    seq: i32,
    actor: Option<Uuid>,
    role: &'a str,
    action: &'a str,
    from: Option<&'a str>,
    to: &'a str,
    /// JSON, keys in order.
    payload: &'a [u8],
    at: DateTime<Utc>,
}

/// `ledger::canonical` of an event, written directly (debug builds check that they agree).
fn canonical_json(out: &mut Vec<u8>, e: &Event<'_>) {
    out.clear();
    out.extend_from_slice(b"{\"action\":");
    json_str(out, e.action);
    out.extend_from_slice(b",\"actor_id\":");
    match e.actor {
        Some(a) => json_uuid(out, a),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"actor_role\":");
    json_str(out, e.role);
    out.extend_from_slice(b",\"created_at\":\"");
    rfc3339_micros(out, e.at);
    out.extend_from_slice(b"\",\"from_status\":");
    match e.from {
        Some(s) => json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"message_id\":");
    json_uuid(out, e.message);
    out.extend_from_slice(b",\"payload\":");
    out.extend_from_slice(e.payload);
    let _ = write!(out, ",\"seq\":{}", e.seq);
    out.extend_from_slice(b",\"to_status\":");
    json_str(out, e.to);
    out.push(b'}');
    debug_assert_eq!(
        std::str::from_utf8(out).ok(),
        serde_json::from_slice::<serde_json::Value>(e.payload)
            .ok()
            .map(|payload| ledger::canonical(&ledger::EventContent {
                message_id: e.message,
                seq: e.seq,
                actor_id: e.actor,
                actor_role: e.role,
                action: e.action,
                from_status: e.from,
                to_status: Some(e.to),
                payload: &payload,
                created_at: e.at,
            }))
            .as_deref(),
        "the canonical encoding differs from ledger::canonical"
    );
}

/// Append an event's row, chained to `head`; returns the new head.
fn event_row(
    out: &mut CopyBuf,
    canonical: &mut Vec<u8>,
    head: &[u8; 32],
    e: &Event<'_>,
) -> [u8; 32] {
    canonical_json(canonical, e);
    // `ledger::event_hash`, over the same bytes.
    let hash: [u8; 32] = Sha256::new()
        .chain_update(head)
        .chain_update(canonical.as_slice())
        .finalize()
        .into();
    out.row();
    out.uuid(e.message);
    out.int4(e.seq);
    out.opt_uuid(e.actor);
    out.text(e.role);
    out.text(e.action);
    out.opt_text(e.from);
    out.text(e.to);
    out.jsonb(e.payload);
    out.timestamp(e.at);
    out.field(head);
    out.field(&hash);
    // The change feed's order (the trigger that sets it does not run during the bulk load):
    // transaction id 2 (PostgreSQL's "frozen": older than every real one), so the seeded history
    // reads in id order, which is each message's chain order.
    out.field(&2u64.to_be_bytes());
    out.text(
        crate::domain::change_type::ChangeType::of_event(e.action, e.from, Some(e.to)).as_str(),
    );
    hash
}

/// Binary COPY data of one chunk.
struct Generated {
    messages: CopyBuf,
    events: CopyBuf,
    assignments: CopyBuf,
    deadlines: CopyBuf,
    replies: CopyBuf,
    revisions: CopyBuf,
    feedback: CopyBuf,
}

impl Generated {
    fn tables_mut(&mut self) -> [&mut CopyBuf; 7] {
        [
            &mut self.messages,
            &mut self.events,
            &mut self.assignments,
            &mut self.deadlines,
            &mut self.replies,
            &mut self.revisions,
            &mut self.feedback,
        ]
    }
}

/// Seconds the loader connections spent in each table's `COPY` (summed over connections).
#[derive(Default)]
struct CopyTimes([f64; 7]);

const TABLES: [&str; 7] = [
    "messages",
    "message_events",
    "assignments",
    "deadlines",
    "replies",
    "reply_revisions",
    "feedback",
];

/// Hand a table's COPY data to the connection in pieces (libpq buffers each piece).
fn send(w: &mut dyn std::io::Write, data: &CopyBuf) -> Result<(), diesel::result::Error> {
    for piece in data.buf.chunks(1 << 20) {
        w.write_all(piece).map_err(io_error)?;
    }
    Ok(())
}

fn copy(conn: &mut PgConnection, g: &Generated, times: &mut CopyTimes) -> anyhow::Result<()> {
    use crate::schema::{
        assignments as a, deadlines as d, feedback as f, replies as r, reply_revisions as rv,
    };
    let mut timed = |table: usize, run: &mut dyn FnMut() -> QueryResult<usize>| {
        let started = Instant::now();
        run()?;
        times.0[table] += started.elapsed().as_secs_f64();
        anyhow::Ok(())
    };
    timed(0, &mut || {
        diesel::copy_from(m::table)
            .from_raw_data(
                (
                    m::id,
                    m::tracking_no,
                    m::author_id,
                    m::source,
                    m::leader_id,
                    m::category_id,
                    m::kind,
                    m::title,
                    m::body,
                    m::region_code,
                    m::region_path,
                    m::address,
                    m::location_lat,
                    m::location_lon,
                    m::visibility,
                    m::contact_name,
                    m::contact_phone,
                    m::attachments,
                    m::status,
                    m::priority,
                    m::tags,
                    m::rejection_reason,
                    m::rejection_note,
                    m::duplicate_of,
                    m::intake_unit_id,
                    m::unit_id,
                    m::search_bigrams,
                    m::version,
                    m::event_count,
                    m::chain_head,
                    m::submitted_at,
                    m::accepted_at,
                    m::last_activity_at,
                    m::replied_at,
                    m::feedback_until,
                    m::closed_at,
                    m::overdue_deadlines,
                    m::reply_on_time,
                    m::handling_days,
                    m::rating,
                ),
                |w: &mut dyn std::io::Write| send(w, &g.messages),
            )
            .with_format(CopyFormat::Binary)
            .execute(conn)
    })?;
    timed(1, &mut || {
        diesel::copy_from(ev::table)
            .from_raw_data(
                (
                    ev::message_id,
                    ev::seq,
                    ev::actor_id,
                    ev::actor_role,
                    ev::action,
                    ev::from_status,
                    ev::to_status,
                    ev::payload,
                    ev::created_at,
                    ev::prev_hash,
                    ev::hash,
                    ev::feed_txid,
                    ev::feed_type,
                ),
                |w: &mut dyn std::io::Write| send(w, &g.events),
            )
            .with_format(CopyFormat::Binary)
            .execute(conn)
    })?;
    if g.assignments.rows > 0 {
        timed(2, &mut || {
            diesel::copy_from(a::table)
                .from_raw_data(
                    (
                        a::id,
                        a::message_id,
                        a::unit_id,
                        a::role,
                        a::origin,
                        a::status,
                        a::note,
                        a::assigned_by,
                        a::assigned_at,
                        a::signed_for_by,
                        a::signed_for_at,
                        a::completed_at,
                        a::intake_unit_id,
                        a::region_path,
                    ),
                    |w: &mut dyn std::io::Write| send(w, &g.assignments),
                )
                .with_format(CopyFormat::Binary)
                .execute(conn)
        })?;
    }
    if g.deadlines.rows > 0 {
        timed(3, &mut || {
            diesel::copy_from(d::table)
                .from_raw_data(
                    (
                        d::id,
                        d::message_id,
                        d::assignment_id,
                        d::kind,
                        d::unit_id,
                        d::intake_unit_id,
                        d::region_path,
                        d::leader_id,
                        d::priority,
                        d::policy_id,
                        d::policy_version,
                        d::limit_days,
                        d::due_soon_days,
                        d::started_at,
                        d::start_action,
                        d::start_event_seq,
                        d::due_at,
                        d::due_soon_at,
                        d::state,
                        d::closed_at,
                        d::closed_by_action,
                        d::due_soon_raised_at,
                        d::overdue_raised_at,
                    ),
                    |w: &mut dyn std::io::Write| send(w, &g.deadlines),
                )
                .with_format(CopyFormat::Binary)
                .execute(conn)
        })?;
    }
    if g.replies.rows > 0 {
        timed(4, &mut || {
            diesel::copy_from(r::table)
                .from_raw_data(
                    (
                        r::id,
                        r::message_id,
                        r::assignment_id,
                        r::unit_id,
                        r::intake_unit_id,
                        r::region_path,
                        r::kind,
                        r::status,
                        r::body,
                        r::attachments,
                        r::revision,
                        r::review_unit_id,
                        r::created_by,
                        r::created_at,
                        r::updated_by,
                        r::updated_at,
                        r::submitted_at,
                        r::reviewed_by,
                        r::reviewed_at,
                        r::published_by,
                        r::published_at,
                        r::unit_name,
                    ),
                    |w: &mut dyn std::io::Write| send(w, &g.replies),
                )
                .with_format(CopyFormat::Binary)
                .execute(conn)
        })?;
    }
    if g.revisions.rows > 0 {
        timed(5, &mut || {
            diesel::copy_from(rv::table)
                .from_raw_data(
                    (
                        rv::reply_id,
                        rv::revision,
                        rv::body,
                        rv::attachments,
                        rv::edited_by,
                        rv::edited_at,
                        rv::submitted_by,
                        rv::submitted_at,
                        rv::review_decision,
                        rv::reviewed_by,
                        rv::reviewed_at,
                    ),
                    |w: &mut dyn std::io::Write| send(w, &g.revisions),
                )
                .with_format(CopyFormat::Binary)
                .execute(conn)
        })?;
    }
    if g.feedback.rows > 0 {
        timed(6, &mut || {
            diesel::copy_from(f::table)
                .from_raw_data(
                    (
                        f::id,
                        f::message_id,
                        f::reply_id,
                        f::author_id,
                        f::unit_id,
                        f::region_path,
                        f::rating,
                        f::comment,
                        f::changes,
                        f::flag,
                        f::created_at,
                        f::updated_at,
                    ),
                    |w: &mut dyn std::io::Write| send(w, &g.feedback),
                )
                .with_format(CopyFormat::Binary)
                .execute(conn)
        })?;
    }
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    def: String,
}

/// The bulk-loaded tables whose indexes are rebuilt after the load.
const REBUILT: &str =
    "'messages', 'message_events', 'assignments', 'deadlines', 'replies', 'feedback'";

/// Secondary indexes of the bulk-loaded tables (not those behind constraints).
fn secondary_indexes(conn: &mut PgConnection) -> anyhow::Result<Vec<IndexDef>> {
    Ok(diesel::sql_query(format!(
        "SELECT i.indexname::text AS name, i.indexdef::text AS def FROM pg_indexes i \
         WHERE i.schemaname = 'public' AND i.tablename IN ({REBUILT}) \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
    ))
    .load(conn)?)
}

#[derive(diesel::QueryableByName)]
struct UniqueDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    /// Definition of the constraint's index.
    #[diesel(sql_type = diesel::sql_types::Text)]
    def: String,
}

/// Unique constraints of the bulk-loaded tables that no foreign key depends on (the ledger's
/// `(message_id, seq)`, tracking numbers): dropped for the load like the secondary indexes,
/// their indexes rebuilt with the others, then attached again as the same constraints.
fn unique_constraints(conn: &mut PgConnection) -> anyhow::Result<Vec<UniqueDef>> {
    Ok(diesel::sql_query(format!(
        "SELECT t.relname::text AS table, c.conname::text AS name, \
                pg_get_indexdef(c.conindid) AS def \
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
         WHERE c.contype = 'u' AND NOT c.condeferrable \
         AND t.relnamespace = 'public'::regnamespace AND t.relname IN ({REBUILT}) \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid)"
    ))
    .load(conn)?)
}

/// The table an index definition is on (`CREATE … INDEX name ON public.table USING …`).
fn index_table(def: &str) -> &str {
    def.split(" ON ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|t| t.trim_start_matches("public."))
        .unwrap_or("")
}

/// Tables whose visibility map matters (index-only scans: a leader's counters come from the
/// `(leader_id, status)` index): vacuumed after the load, which also sets their hint bits.
/// The ledger is only analyzed: it is read by `(message_id, seq)` for whole rows, never by
/// index-only scans, and its first index build sets the hint bits anyway.
const VACUUMED: &[&str] = &[
    "messages",
    "assignments",
    "deadlines",
    "replies",
    "feedback",
];

/// Rows of messages generated at a time (with their events and the rest): a chunk's COPY data
/// is about 70 MB, and a few chunks are in memory at once, whatever the number of messages.
const CHUNK: usize = 20_000;
/// Threads generating chunks, and COPY connections loading them: on the benchmark machine's
/// two cores, PostgreSQL is the bottleneck, and a third connection keeps the cores busy while
/// another waits for WAL.
const GENERATORS: usize = 2;
const LOADERS: usize = 3;
/// Connections vacuuming and building indexes after the load: the GIN index keeps one core
/// busy for a third of the time of all the rest, which the other connection does meanwhile (a
/// third connection would take CPU from the GIN build and make it the tail).
const BUILDERS: usize = 2;

pub struct BenchReport {
    pub messages: usize,
    pub events: i64,
    pub seconds_load: f64,
    pub seconds_indexes: f64,
    /// Where the time went: phase, seconds (summed over the connections or threads that
    /// worked side by side, where it says so).
    pub phases: Vec<(String, f64)>,
}

/// Session settings of the loading and building connections. WAL compression (lz4, where the
/// role may set it and the server has it) shrinks the full-page images of index builds and of
/// the primary keys' random inserts.
fn bulk_session(conn: &mut PgConnection) -> anyhow::Result<()> {
    diesel::sql_query("SET synchronous_commit = off").execute(conn)?;
    // The rows are generated from the reference data just read, so the foreign-key triggers
    // (a lookup per reference per row) can be skipped when the role may (superusers: the
    // benchmark's local server); otherwise they run.
    let _ = diesel::sql_query("SET session_replication_role = replica").execute(conn);
    let _ = diesel::sql_query("SET wal_compression = lz4").execute(conn);
    Ok(())
}

pub fn seed_bench(database_url: &str, messages: usize) -> anyhow::Result<BenchReport> {
    let mut phases: Vec<(String, f64)> = Vec::new();
    let started = Instant::now();
    let mut conn = PgConnection::establish(database_url).context("cannot connect")?;
    crate::db::run_migrations(&mut conn)?;
    crate::seed::seed_demo(&mut conn)?;
    let authors = bench_citizens(&mut conn, 10_000)?;
    let mut pools = load_pools(&mut conn, authors)?;
    pools.triggers_off = diesel::sql_query("SET session_replication_role = replica")
        .execute(&mut conn)
        .is_ok();
    diesel::sql_query("RESET session_replication_role").execute(&mut conn)?;
    let base: i64 = m::table.count().get_result(&mut conn)?;
    let base_events: i64 = ev::table.count().get_result(&mut conn)?;
    let indexes = secondary_indexes(&mut conn)?;
    let uniques = unique_constraints(&mut conn)?;
    for u in &uniques {
        diesel::sql_query(format!(
            "ALTER TABLE {} DROP CONSTRAINT {}",
            u.table, u.name
        ))
        .execute(&mut conn)?;
    }
    for ix in &indexes {
        diesel::sql_query(format!("DROP INDEX {}", ix.name)).execute(&mut conn)?;
    }
    phases.push(("setup".into(), started.elapsed().as_secs_f64()));

    // The load: generators take the next chunk number, generate it and queue it (at most one
    // waits, so memory stays flat); each loader COPYs the chunks it takes. A failed loader
    // stops the generators.
    let started = Instant::now();
    let now = Utc::now();
    let offset = usize::try_from(base).unwrap_or(0) + 1_000_000;
    let chunks = messages.div_ceil(CHUNK);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let (tx, rx) = crossbeam_channel::bounded::<Generated>(1);
    // Seconds generating, waiting for a loader, waiting for a chunk; COPY per table.
    let timing = Mutex::new((0.0f64, 0.0f64, 0.0f64, CopyTimes::default()));
    let generated_events = AtomicUsize::new(0);
    std::thread::scope(|s| -> anyhow::Result<()> {
        for _ in 0..GENERATORS {
            let tx = tx.clone();
            let (pools, next, failed, timing, generated_events) =
                (&pools, &next, &failed, &timing, &generated_events);
            s.spawn(move || {
                let (mut busy, mut blocked) = (0.0, 0.0);
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= chunks || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let start = k * CHUNK;
                    let end = (start + CHUNK).min(messages);
                    let t = Instant::now();
                    let chunk = generate(pools, offset + start, offset + end, start as u64, now);
                    generated_events.fetch_add(chunk.events.rows, Ordering::Relaxed);
                    busy += t.elapsed().as_secs_f64();
                    let t = Instant::now();
                    if tx.send(chunk).is_err() {
                        break;
                    }
                    blocked += t.elapsed().as_secs_f64();
                }
                if let Ok(mut t) = timing.lock() {
                    t.0 += busy;
                    t.1 += blocked;
                }
            });
        }
        drop(tx);
        let loaders: Vec<_> = (0..LOADERS)
            .map(|_| {
                let rx = rx.clone();
                let (failed, timing) = (&failed, &timing);
                s.spawn(move || -> anyhow::Result<()> {
                    let load = || -> anyhow::Result<()> {
                        let mut conn = PgConnection::establish(database_url)?;
                        bulk_session(&mut conn)?;
                        let mut times = CopyTimes::default();
                        let mut waited = 0.0;
                        loop {
                            let t = Instant::now();
                            let Ok(chunk) = rx.recv() else { break };
                            waited += t.elapsed().as_secs_f64();
                            copy(&mut conn, &chunk, &mut times)?;
                        }
                        if let Ok(mut t) = timing.lock() {
                            t.2 += waited;
                            for (sum, table) in t.3.0.iter_mut().zip(times.0) {
                                *sum += table;
                            }
                        }
                        Ok(())
                    };
                    let result = load();
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        drop(rx);
        for l in loaders {
            l.join()
                .map_err(|_| anyhow::anyhow!("a loader thread panicked"))??;
        }
        Ok(())
    })?;
    let seconds_load = started.elapsed().as_secs_f64();
    if let Ok(t) = timing.lock() {
        phases.push((format!("generate ({GENERATORS} threads)"), t.0));
        phases.push(("generators waiting for a loader".into(), t.1));
        phases.push(("loaders waiting for a chunk".into(), t.2));
        for (table, secs) in TABLES.iter().zip(t.3.0) {
            phases.push((format!("COPY {table} ({LOADERS} connections)"), secs));
        }
    }
    phases.push(("load".into(), seconds_load));

    // After the load, per table: vacuum or analyze first (a vacuum sets the hint bits and the
    // visibility of each page in one pass, so the index builds find clean pages), then its
    // index builds. Several connections take jobs from one queue, longest first; an index
    // build that comes to a table still being vacuumed waits for the lock. The bigram GIN
    // index is by far the longest build and cannot be parallelized, so one connection vacuums
    // `messages` and starts it at once; index builds on one table run side by side (and share
    // their heap reads: synchronized scans).
    let started = Instant::now();
    let maintain = |table: &str| {
        if VACUUMED.contains(&table) {
            format!("VACUUM (ANALYZE) {table}")
        } else {
            format!("ANALYZE {table}")
        }
    };
    let mut defs: Vec<String> = indexes.iter().map(|ix| ix.def.clone()).collect();
    defs.extend(uniques.iter().map(|u| u.def.clone()));
    let (gin, mut btrees): (Vec<String>, Vec<String>) = defs
        .into_iter()
        .partition(|d| index_table(d) == "messages" && d.contains("USING gin"));
    let mut queue: VecDeque<Vec<String>> = VecDeque::new();
    queue.push_back(std::iter::once(maintain("messages")).chain(gin).collect());
    queue.push_back(vec![maintain("message_events")]);
    let mut small: VecDeque<Vec<String>> = VecDeque::new();
    for table in [
        "message_events",
        "deadlines",
        "assignments",
        "replies",
        "feedback",
    ] {
        let on_table: Vec<String> = btrees
            .iter()
            .filter(|d| index_table(d) == table)
            .cloned()
            .collect();
        btrees.retain(|d| index_table(d) != table);
        if table == "message_events" {
            queue.extend(on_table.into_iter().map(|d| vec![d]));
        } else {
            small.push_back(std::iter::once(maintain(table)).chain(on_table).collect());
        }
    }
    // The B-trees of `messages` with the most key columns first, partial ones last; a small
    // table first, for a connection that would otherwise wait for the vacuum of `messages`.
    let weight = |d: &String| {
        if d.contains(" WHERE ") {
            0
        } else {
            d.matches(',').count() + 1
        }
    };
    btrees.sort_by_key(|d| std::cmp::Reverse(weight(d)));
    queue.extend(small.pop_front());
    queue.extend(btrees.into_iter().map(|d| vec![d]));
    queue.extend(small);
    let queue = Mutex::new(queue);
    let steps: Mutex<Vec<(String, f64)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| -> anyhow::Result<()> {
        let builders: Vec<_> = (0..BUILDERS)
            .map(|_| {
                let (queue, steps) = (&queue, &steps);
                s.spawn(move || -> anyhow::Result<()> {
                    let mut conn = PgConnection::establish(database_url)?;
                    bulk_session(&mut conn)?;
                    diesel::sql_query("SET maintenance_work_mem = '1GB'").execute(&mut conn)?;
                    // Parallel workers would only compete with the other builders for the cores.
                    diesel::sql_query("SET max_parallel_maintenance_workers = 0")
                        .execute(&mut conn)?;
                    while let Some(job) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
                        for sql in job {
                            let t = Instant::now();
                            diesel::sql_query(&sql).execute(&mut conn)?;
                            let secs = t.elapsed().as_secs_f64();
                            tracing::info!(secs, sql = %sql, "seed-bench: after the load");
                            if let Ok(mut st) = steps.lock() {
                                st.push((sql, secs));
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for b in builders {
            b.join()
                .map_err(|_| anyhow::anyhow!("an index builder panicked"))??;
        }
        Ok(())
    })?;
    for u in &uniques {
        diesel::sql_query(format!(
            "ALTER TABLE {} ADD CONSTRAINT {} UNIQUE USING INDEX {}",
            u.table, u.name, u.name
        ))
        .execute(&mut conn)?;
    }
    diesel::sql_query(format!(
        "SELECT setval('message_tracking_seq', GREATEST((SELECT last_value FROM message_tracking_seq), {}))",
        offset + messages + 1
    ))
    .execute(&mut conn)?;
    let seconds_indexes = started.elapsed().as_secs_f64();
    if let Ok(st) = steps.lock() {
        for (sql, secs) in st.iter() {
            // "CREATE INDEX name ON public.table USING …" → "INDEX name ON public.table".
            let short = sql.split(" USING ").next().unwrap_or(sql);
            phases.push((short.trim_start_matches("CREATE ").to_owned(), *secs));
        }
    }
    phases.push(("indexes and analyze".into(), seconds_indexes));
    // The statistics aggregates: the loaders skipped the triggers that feed them, so they are
    // computed from the loaded rows, as `liuyan stats-rebuild` does.
    let started = Instant::now();
    let cells = crate::store::statistics::rebuild(&mut conn)
        .map_err(|e| anyhow::anyhow!("statistics rebuild: {e}"))?;
    phases.push((
        format!("statistics rebuild ({cells} cells)"),
        started.elapsed().as_secs_f64(),
    ));
    let events = base_events + i64::try_from(generated_events.into_inner()).unwrap_or(0);
    let _ = std::io::stdout().flush();
    Ok(BenchReport {
        messages,
        events,
        seconds_load,
        seconds_indexes,
        phases,
    })
}

fn io_error(e: std::io::Error) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_the_ledger_writes_them() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let t = DateTime::from_timestamp_micros(rng.random_range(0..4_102_444_800_000_000))
                .unwrap();
            out.clear();
            rfc3339_micros(&mut out, t);
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            );
        }
    }

    #[test]
    fn payloads_are_what_serde_json_prints() {
        let id = Uuid::now_v7();
        let mut out = Vec::new();
        json_object(
            &mut out,
            &[
                ("feedback_id", J::Id(id)),
                ("note", J::Str("不予受理 \"引号\" \\ \n")),
                ("priority", J::Null),
                ("revision", J::Int(1)),
                ("tags", J::EmptyArray),
            ],
        );
        let expected = serde_json::json!({
            "feedback_id": id,
            "note": "不予受理 \"引号\" \\ \n",
            "priority": null,
            "revision": 1,
            "tags": [],
        })
        .to_string();
        assert_eq!(std::str::from_utf8(&out).unwrap(), expected);
    }

    #[test]
    fn precomputed_bigrams_are_those_of_the_text() {
        let grams = Grams::new().unwrap();
        let mut set = vec![0u64; grams.words];
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..2_000 {
            let (s, p, q) = (
                rng.random_range(0..STREETS.len()),
                rng.random_range(0..PLACES.len()),
                rng.random_range(0..ISSUES.len()),
            );
            let sentences: Vec<usize> = (0..rng.random_range(0..8))
                .map(|_| rng.random_range(0..SENTENCES.len()))
                .collect();
            let mut title = String::new();
            write_title(&mut title, STREETS[s], PLACES[p], ISSUES[q].0);
            let mut body = String::new();
            write_opening(&mut body, STREETS[s], PLACES[p], ISSUES[q].1);
            for &k in &sentences {
                body.push_str(SENTENCES[k]);
            }
            grams.message(&mut set, Grams::piece(s, p, q), &sentences);
            let expected = bigrams(&format!("{title}\n{body}"));
            assert!(grams.iter(&set).eq(expected.iter().map(String::as_str)));
        }
    }

    #[test]
    fn index_definitions_name_their_table() {
        assert_eq!(
            index_table(
                "CREATE INDEX messages_search_idx ON public.messages USING gin (search_bigrams)"
            ),
            "messages"
        );
        assert_eq!(
            index_table(
                "CREATE UNIQUE INDEX message_events_message_id_seq_key ON public.message_events USING btree (message_id, seq)"
            ),
            "message_events"
        );
    }
}
