//! The printable briefing (摘报) as a Word document (DOCX, written with `docx-rs`): a cover
//! (title, period, region, status, who compiled and who reviewed it), the statistics of the
//! period, and the selected items with their summaries and the leaders' instructions.
//!
//! Nobody's contact data goes in: items carry no author, contact, address or location, and every
//! text is passed through `domain::personal_data::mask` with the message's own contact data as
//! known values, so a phone number typed into a title or a summary is masked too.

use docx_rs::{
    AlignmentType, BreakType, Docx, Paragraph, Run, RunFonts, Shading, Table, TableCell, TableRow,
    WidthType,
};

use crate::domain::statistics::{Figures, Rate};
use crate::error::ApiError;

pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// A DOCX download (the schema of the document responses).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct DocxFile(pub String);

/// Everything the document shows.
#[derive(Debug, Clone)]
pub struct BriefingDocument {
    pub title: String,
    /// 「2026-11-02 至 2026-11-08」
    pub period: String,
    pub region: String,
    /// 「草稿」, 「已报送」, 「已审阅」
    pub status: String,
    pub compiled_by: String,
    pub submitted: Option<String>,
    pub reviewed: Option<String>,
    pub figures: Figures,
    pub items: Vec<DocumentItem>,
}

#[derive(Debug, Clone)]
pub struct DocumentItem {
    pub position: i32,
    pub tracking_no: String,
    pub title: String,
    pub region: String,
    pub unit: String,
    pub category: String,
    pub reasons: String,
    pub summary: String,
    /// (leader, instruction)
    pub instruction: Option<(String, String)>,
    /// The message's contact data, only to mask it wherever it appears.
    pub known_personal: Vec<String>,
}

fn fonts() -> RunFonts {
    RunFonts::new()
        .east_asia("SimSun")
        .ascii("Times New Roman")
        .hi_ansi("Times New Roman")
}

fn text(t: &str) -> Run {
    Run::new().add_text(t).fonts(fonts())
}

/// A paragraph of possibly several lines.
fn lines(t: &str) -> Paragraph {
    let mut p = Paragraph::new();
    for (i, line) in t.lines().enumerate() {
        let run = if i == 0 {
            text(line)
        } else {
            Run::new()
                .add_break(BreakType::TextWrapping)
                .add_text(line)
                .fonts(fonts())
        };
        p = p.add_run(run);
    }
    p
}

fn heading(t: &str, size: usize) -> Paragraph {
    Paragraph::new()
        .add_run(text(t).bold().size(size))
        .keep_next(true)
}

fn cell(t: &str) -> TableCell {
    TableCell::new().add_paragraph(lines(t))
}

fn header_cell(t: &str) -> TableCell {
    TableCell::new()
        .shading(Shading::new().fill("D9E2F3"))
        .add_paragraph(Paragraph::new().add_run(text(t).bold()))
}

fn percent(r: &Rate) -> String {
    match r.value {
        Some(v) => format!("{:.1}%（{}/{}）", v * 100.0, r.numerator, r.denominator),
        None => format!("—（{}/{}）", r.numerator, r.denominator),
    }
}

fn mask(t: &str, known: &[String]) -> String {
    let known: Vec<&str> = known
        .iter()
        .map(String::as_str)
        .filter(|k| !k.is_empty())
        .collect();
    crate::domain::personal_data::mask(t, &known)
}

/// Render the document; the bytes of a DOCX (a ZIP package).
pub fn render(doc: &BriefingDocument) -> Result<Vec<u8>, ApiError> {
    let mut d = Docx::new().default_fonts(fonts()).default_size(24);

    // Cover.
    d = d
        .add_paragraph(
            Paragraph::new()
                .align(AlignmentType::Center)
                .add_run(text(&doc.title).bold().size(44)),
        )
        .add_paragraph(
            Paragraph::new()
                .align(AlignmentType::Center)
                .add_run(text(&format!("统计周期：{}", doc.period)).size(28)),
        );
    let mut cover = vec![
        ("区域", doc.region.clone()),
        ("状态", doc.status.clone()),
        ("编报", doc.compiled_by.clone()),
    ];
    if let Some(s) = &doc.submitted {
        cover.push(("报送", s.clone()));
    }
    if let Some(r) = &doc.reviewed {
        cover.push(("审阅", r.clone()));
    }
    cover.push(("摘报条目", doc.items.len().to_string()));
    let rows: Vec<TableRow> = cover
        .iter()
        .map(|(k, v)| TableRow::new(vec![header_cell(k), cell(v)]))
        .collect();
    d = d.add_table(
        Table::new(rows)
            .set_grid(vec![2000, 7000])
            .width(9000, WidthType::Dxa),
    );

    // Statistics of the period (messages submitted in it, by their state now).
    let f = &doc.figures;
    let c = &f.counts;
    let stats = [
        ("收到留言", c.received.to_string()),
        ("受理", c.accepted.to_string()),
        ("已答复", c.replied.to_string()),
        ("办理中", c.pending.to_string()),
        ("超期未办", c.overdue.to_string()),
        ("答复率", percent(&f.reply_rate)),
        ("按时答复率", percent(&f.on_time_rate)),
        ("满意率", percent(&f.satisfaction_rate)),
        (
            "办理用时中位数（工作日）",
            f.median_days
                .map_or_else(|| "—".to_owned(), |d| d.to_string()),
        ),
        ("重办率", percent(&f.reopen_rate)),
        ("回访核实率", percent(&f.verification_rate)),
    ];
    d = d.add_paragraph(heading("一、本期办理情况", 30));
    let rows: Vec<TableRow> = stats
        .iter()
        .map(|(k, v)| TableRow::new(vec![header_cell(k), cell(v)]))
        .collect();
    d = d.add_table(
        Table::new(rows)
            .set_grid(vec![4000, 5000])
            .width(9000, WidthType::Dxa),
    );

    // Items.
    d = d.add_paragraph(heading("二、留言摘报", 30));
    if doc.items.is_empty() {
        d = d.add_paragraph(lines("（本期暂无摘报条目）"));
    }
    for item in &doc.items {
        let known = &item.known_personal;
        d = d.add_paragraph(heading(
            &format!("{}. {}", item.position, mask(&item.title, known)),
            26,
        ));
        let mut rows = vec![
            TableRow::new(vec![header_cell("编号"), cell(&item.tracking_no)]),
            TableRow::new(vec![header_cell("区域"), cell(&item.region)]),
            TableRow::new(vec![header_cell("承办单位"), cell(&item.unit)]),
            TableRow::new(vec![header_cell("类别"), cell(&item.category)]),
            TableRow::new(vec![header_cell("入选原因"), cell(&item.reasons)]),
            TableRow::new(vec![header_cell("摘要"), cell(&mask(&item.summary, known))]),
        ];
        if let Some((leader, instruction)) = &item.instruction {
            rows.push(TableRow::new(vec![
                header_cell("领导批示"),
                cell(&format!("{}（{}）", mask(instruction, known), leader)),
            ]));
        }
        d = d.add_table(
            Table::new(rows)
                .set_grid(vec![2000, 7000])
                .width(9000, WidthType::Dxa),
        );
    }

    let mut out = std::io::Cursor::new(Vec::new());
    d.pack(&mut out)
        .map_err(|e| ApiError::Internal(format!("cannot write the document: {e}")))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::statistics::Counts;
    use std::io::Read;

    fn document_xml(bytes: &[u8]) -> String {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip package");
        let mut xml = String::new();
        zip.by_name("word/document.xml")
            .expect("the main part")
            .read_to_string(&mut xml)
            .unwrap();
        assert!(zip.by_name("[Content_Types].xml").is_ok());
        xml
    }

    #[test]
    fn renders_cover_statistics_and_items_without_contact_data() {
        let counts = Counts {
            received: 12,
            accepted: 10,
            replied: 7,
            ..Counts::default()
        };
        let doc = BriefingDocument {
            title: "领导留言摘报（2026-11-02至2026-11-08）".into(),
            period: "2026-11-02 至 2026-11-08".into(),
            region: "兰州市".into(),
            status: "已审阅".into(),
            compiled_by: "刘晓梅".into(),
            submitted: Some("刘晓梅 2026-11-09 10:00".into()),
            reviewed: Some("孙海洋 2026-11-10 09:00".into()),
            figures: Figures::of(counts),
            items: vec![DocumentItem {
                position: 1,
                tracking_no: "GS-2026-000123".into(),
                title: "红绿灯损坏 电话13912345678".into(),
                region: "城关区".into(),
                unit: "兰州市交通运输局".into(),
                category: "交通运输".into(),
                reasons: "重要".into(),
                summary: "路口信号灯损坏三天，张三反映\n第二行".into(),
                instruction: Some(("孙海洋".into(), "请交通局尽快修复。".into())),
                known_personal: vec!["张三".into(), "13912345678".into()],
            }],
        };
        let bytes = render(&doc).unwrap();
        assert_eq!(&bytes[..2], b"PK");
        let xml = document_xml(&bytes);
        for expected in [
            "领导留言摘报",
            "2026-11-02 至 2026-11-08",
            "已审阅",
            "刘晓梅",
            "70.0%（7/10）",
            "GS-2026-000123",
            "路口信号灯损坏三天",
            "第二行",
            "请交通局尽快修复。",
            "兰州市交通运输局",
        ] {
            assert!(xml.contains(expected), "{expected} in the document");
        }
        assert!(!xml.contains("13912345678"), "no phone number");
        assert!(!xml.contains("张三"), "no contact name");
    }
}
