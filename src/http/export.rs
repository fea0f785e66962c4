//! Tables as CSV or XLSX downloads: the statistics views and the ledger (台账).
//!
//! The format comes from `format=` or, without it, from `Accept`. Rows are produced on a
//! database thread and handed to the response through a bounded channel, so a large export
//! streams with flat memory: CSV chunk by chunk; XLSX through a constant-memory worksheet in a
//! temporary file (the zip container needs its directory at the end), sent when complete from
//! a blocking thread, the database thread being free again by then.
//!
//! Formula injection: every CSV cell goes through [`csv_field`], which puts a `'` before text a
//! spreadsheet could read as a formula (OWASP); XLSX text is written as string cells, which are
//! never formulas, quote-prefixed as well.
//!
//! A CSV download holds its database thread at its client's pace, so downloads running at once
//! are capped ([`ExportSlots`], `LIUYAN_EXPORT_CONCURRENCY`): one more gets 503 at once, and a
//! few slow clients never take every database thread from the API.

use std::io::{Read, Seek, SeekFrom};

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use diesel::PgConnection;
use futures_util::stream::Stream;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::db::Db;
use crate::error::ApiError;

/// Downloads running at once, capped. A slot is taken before a download starts and given back
/// when both its database work has ended and its body has been sent (or its client went away).
#[derive(Clone)]
pub struct ExportSlots {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    size: usize,
}

/// A taken slot; the slot is free again when the last clone is dropped.
#[derive(Clone)]
pub struct ExportSlot {
    _permit: std::sync::Arc<tokio::sync::OwnedSemaphorePermit>,
}

impl ExportSlots {
    pub fn new(size: usize) -> Self {
        ExportSlots {
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(size)),
            size,
        }
    }

    /// Slots there are.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Slots taken now.
    pub fn in_use(&self) -> usize {
        self.size - self.slots.available_permits()
    }

    /// A free slot, or 503 (with `Retry-After`) when every slot is taken.
    pub fn take(&self) -> Result<ExportSlot, ApiError> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map(|permit| ExportSlot {
                _permit: std::sync::Arc::new(permit),
            })
            .map_err(|_| {
                ApiError::ServiceUnavailable(format!(
                    "{} downloads are running, as many as this server runs at once; retry shortly",
                    self.size
                ))
            })
    }
}

pub const CSV: &str = "text/csv; charset=utf-8";
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

crate::text_enum! {
    /// A download format.
    pub enum ExportFormat {
        /// JSON (the default of the statistics views).
        Json => "json",
        /// Comma-separated values, UTF-8 (with a byte-order mark when headers are Chinese, so
        /// spreadsheet programs read it right).
        Csv => "csv",
        /// An Excel workbook.
        Xlsx => "xlsx",
    }
}

crate::text_enum! {
    /// The language of a download's column headers.
    pub enum HeaderLanguage {
        /// Field names, as in the JSON.
        En => "en",
        /// Chinese headers for people.
        Zh => "zh",
    }
}

/// A CSV download (the schema of the `text/csv` responses).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(value_type = String, example = "received,accepted\n120,100\n")]
pub struct CsvFile(pub String);

/// An XLSX download (the schema of the spreadsheet responses).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct XlsxFile(pub String);

/// The format asked for: `format=` wins; else the first of CSV or XLSX that `Accept` names
/// explicitly; else `default`.
pub fn negotiate(
    req: &HttpRequest,
    param: Option<ExportFormat>,
    default: ExportFormat,
) -> ExportFormat {
    if let Some(f) = param {
        return f;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for part in accept.split(',') {
        let mime = part.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("text/csv") {
            return ExportFormat::Csv;
        }
        if mime.eq_ignore_ascii_case(XLSX) {
            return ExportFormat::Xlsx;
        }
        if mime.eq_ignore_ascii_case("application/json") {
            return ExportFormat::Json;
        }
    }
    default
}

/// A column: its English (field) and Chinese header.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub en: &'static str,
    pub zh: &'static str,
}

/// A cell value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Float(f64),
    Empty,
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_owned())
    }
}
impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}
impl From<i32> for Cell {
    fn from(n: i32) -> Self {
        Cell::Int(i64::from(n))
    }
}
impl From<u32> for Cell {
    fn from(n: u32) -> Self {
        Cell::Int(i64::from(n))
    }
}
impl From<f64> for Cell {
    fn from(n: f64) -> Self {
        Cell::Float(n)
    }
}
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Cell::Empty)
    }
}

/// Where a producer puts its rows.
pub type RowSink<'a> = dyn FnMut(Vec<Cell>) -> Result<(), ApiError> + 'a;

/// Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection"), with
/// their full-width forms, which some spreadsheet programs normalise.
const FORMULA_TRIGGERS: &[char] = &['=', '+', '-', '@', '＝', '＋', '－', '＠'];

/// Whether a spreadsheet could take `s` for a formula: it starts with a trigger, with a tab or
/// carriage return, or with a trigger after leading blanks (which some programs skip).
pub fn looks_like_formula(s: &str) -> bool {
    s.starts_with(['\t', '\r'])
        || s.trim_start_matches(|c: char| c.is_whitespace() || c.is_control())
            .starts_with(FORMULA_TRIGGERS)
}

/// The text of one CSV field: every cell of every CSV the application writes passes through
/// here. Text that a spreadsheet could take for a formula gets a leading `'` (OWASP), so
/// `=HYPERLINK(…)` arrives as the text `'=HYPERLINK(…)`. Numbers are written as numbers, a
/// negative one with its minus: they come from numeric columns, never from what people typed,
/// and digits with a sign are not a formula.
pub fn csv_field(cell: &Cell) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match cell {
        Cell::Text(s) if looks_like_formula(s) => Cow::Owned(format!("'{s}")),
        Cell::Text(s) => Cow::Borrowed(s),
        Cell::Int(n) => Cow::Owned(n.to_string()),
        Cell::Float(f) => Cow::Owned(f.to_string()),
        Cell::Empty => Cow::Borrowed(""),
    }
}

/// Writes rows in one format.
trait TableWriter {
    fn row(&mut self, cells: &[Cell]) -> Result<(), ApiError>;
    /// Bytes ready to send (CSV only; XLSX sends at the end).
    fn take(&mut self) -> Option<Vec<u8>>;
    fn finish(self: Box<Self>) -> Result<Option<std::fs::File>, ApiError>;
}

fn io(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("export: {e}"))
}

struct CsvWriter {
    out: csv::Writer<Vec<u8>>,
}

impl TableWriter for CsvWriter {
    fn row(&mut self, cells: &[Cell]) -> Result<(), ApiError> {
        self.out
            .write_record(cells.iter().map(|c| csv_field(c).into_owned()))
            .map_err(io)
    }

    fn take(&mut self) -> Option<Vec<u8>> {
        let full = std::mem::replace(&mut self.out, csv::Writer::from_writer(Vec::new()));
        let buf = full.into_inner().ok()?;
        (!buf.is_empty()).then_some(buf)
    }

    fn finish(self: Box<Self>) -> Result<Option<std::fs::File>, ApiError> {
        Ok(None)
    }
}

/// Rows of an Excel worksheet, header included: longer tables continue on further sheets,
/// each starting with the header again.
const XLSX_MAX_ROWS: u32 = 1_048_576;

struct XlsxWriter {
    workbook: rust_xlsxwriter::Workbook,
    /// Rows per sheet (`XLSX_MAX_ROWS`; smaller in tests).
    max_rows: u32,
    sheet: usize,
    row: u32,
    /// The first row written, repeated at the top of every further sheet.
    header: Option<Vec<Cell>>,
    /// The format of text a spreadsheet could take for a formula: quote-prefixed.
    quoted: rust_xlsxwriter::Format,
}

impl XlsxWriter {
    fn new(max_rows: u32) -> Result<Self, ApiError> {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        workbook.add_worksheet_with_constant_memory().map_err(io)?;
        Ok(XlsxWriter {
            workbook,
            max_rows,
            sheet: 0,
            row: 0,
            header: None,
            quoted: rust_xlsxwriter::Format::new().set_quote_prefix(),
        })
    }

    fn write(&mut self, cells: &[Cell]) -> Result<(), ApiError> {
        let sheet = self.workbook.worksheet_from_index(self.sheet).map_err(io)?;
        for (col, c) in cells.iter().enumerate() {
            let col = u16::try_from(col).map_err(io)?;
            match c {
                // A string cell (`t="inlineStr"`), never a formula (only `write_formula`
                // writes those); the quote prefix keeps it text when someone edits it in Excel.
                Cell::Text(s) if looks_like_formula(s) => sheet
                    .write_string_with_format(self.row, col, s, &self.quoted)
                    .map(|_| ()),
                Cell::Text(s) => sheet.write_string(self.row, col, s).map(|_| ()),
                Cell::Int(n) => sheet.write_number(self.row, col, *n as f64).map(|_| ()),
                Cell::Float(f) => sheet.write_number(self.row, col, *f).map(|_| ()),
                Cell::Empty => Ok(()),
            }
            .map_err(io)?;
        }
        self.row += 1;
        Ok(())
    }
}

impl TableWriter for XlsxWriter {
    fn row(&mut self, cells: &[Cell]) -> Result<(), ApiError> {
        match &self.header {
            None => self.header = Some(cells.to_vec()),
            Some(header) if self.row >= self.max_rows => {
                let header = header.clone();
                self.workbook
                    .add_worksheet_with_constant_memory()
                    .map_err(io)?;
                self.sheet += 1;
                self.row = 0;
                self.write(&header)?;
            }
            Some(_) => {}
        }
        self.write(cells)
    }

    fn take(&mut self) -> Option<Vec<u8>> {
        None
    }

    fn finish(mut self: Box<Self>) -> Result<Option<std::fs::File>, ApiError> {
        let mut file = tempfile::tempfile().map_err(io)?;
        self.workbook.save_to_writer(&mut file).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        Ok(Some(file))
    }
}

fn new_writer(
    format: ExportFormat,
    lang: HeaderLanguage,
) -> Result<Box<dyn TableWriter>, ApiError> {
    Ok(match format {
        ExportFormat::Xlsx => Box::new(XlsxWriter::new(XLSX_MAX_ROWS)?),
        _ => {
            let mut bom = Vec::new();
            if lang == HeaderLanguage::Zh {
                bom.extend_from_slice("\u{feff}".as_bytes());
            }
            Box::new(CsvWriter {
                out: csv::Writer::from_writer(bom),
            })
        }
    })
}

/// CSV rows per chunk sent; file reads per chunk for XLSX.
const ROWS_PER_CHUNK: usize = 500;
const CHUNK: usize = 64 * 1024;

/// Streams a table: `produce` runs on a database thread and pushes rows; the response carries
/// them as they come (a slow reader slows the producer; memory stays flat). 503 at once when
/// every download slot is taken.
pub async fn respond<F>(
    db: &Db,
    slots: &ExportSlots,
    format: ExportFormat,
    lang: HeaderLanguage,
    columns: Vec<Column>,
    filename: &str,
    produce: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut PgConnection, &mut RowSink<'_>) -> Result<(), ApiError> + Send + 'static,
{
    let slot = slots.take()?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let file_tx = tx.clone();
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<Result<(), ApiError>>();
    let headers: Vec<Cell> = columns
        .iter()
        .map(|c| {
            Cell::Text(
                if lang == HeaderLanguage::Zh {
                    c.zh
                } else {
                    c.en
                }
                .to_owned(),
            )
        })
        .collect();
    let job = move |conn: &mut PgConnection| {
        let mut writer: Box<dyn TableWriter> = match new_writer(format, lang) {
            Ok(w) => w,
            Err(e) => {
                let _ = first_tx.send(Err(e));
                return Ok::<_, ApiError>(None);
            }
        };
        let mut first = Some(first_tx);
        let mut result = writer.row(&headers);
        if result.is_ok() {
            let mut pending = 0usize;
            let mut sink = |cells: Vec<Cell>| -> Result<(), ApiError> {
                writer.row(&cells)?;
                pending += 1;
                if pending >= ROWS_PER_CHUNK {
                    pending = 0;
                    if let Some(buf) = writer.take() {
                        if let Some(f) = first.take() {
                            let _ = f.send(Ok(()));
                        }
                        tx.blocking_send(Ok(Bytes::from(buf)))
                            .map_err(|_| ApiError::Internal("the client went away".into()))?;
                    }
                }
                Ok(())
            };
            result = produce(conn, &mut sink);
        }
        // The producer failed before anything was sent: the caller answers with the problem.
        if let Err(e) = result {
            match first.take() {
                Some(f) => {
                    let _ = f.send(Err(e));
                }
                None => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                }
            }
            return Ok::<_, ApiError>(None);
        }
        if let Some(buf) = writer.take() {
            if let Some(f) = first.take() {
                let _ = f.send(Ok(()));
            }
            let _ = tx.blocking_send(Ok(Bytes::from(buf)));
        }
        match writer.finish() {
            Ok(file) => {
                if let Some(f) = first.take() {
                    let _ = f.send(Ok(()));
                }
                Ok(file)
            }
            Err(e) => {
                match first.take() {
                    Some(f) => {
                        let _ = f.send(Err(e));
                    }
                    None => {
                        let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    }
                }
                Ok(None)
            }
        }
    };
    // The job runs to completion on its thread; the response waits for the first bytes (or the
    // problem that kept them from coming). A finished workbook is sent from a blocking thread,
    // so a slow client never holds a database thread for it.
    let db = db.clone();
    let job_slot = slot.clone();
    actix_web::rt::spawn(async move {
        match db.run_expensive(job).await {
            Ok(Some(file)) => {
                let _ = actix_web::web::block(move || send_file(file, &file_tx)).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "export failed"),
        }
        drop(job_slot);
    });
    match first_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(ApiError::ServiceUnavailable(
                "the export could not start".into(),
            ));
        }
    }
    let (content_type, ext) = match format {
        ExportFormat::Xlsx => (XLSX, "xlsx"),
        _ => (CSV, "csv"),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}.{ext}\""),
        ))
        .streaming(ReceiverStream { rx, _slot: slot }))
}

/// Sends a finished file through the channel in chunks (blocking).
fn send_file(
    mut file: std::fs::File,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tx
                    .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
                {
                    break; // the client went away
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                break;
            }
        }
    }
}

/// The receiving end of the channel as a body stream, holding the download's slot until the
/// body is done (or dropped, when the client goes away).
struct ReceiverStream {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    _slot: ExportSlot,
}

impl Stream for ReceiverStream {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Writes `rows` to a small table in memory (for tests and tiny tables).
pub fn csv_string(columns: &[Column], rows: &[Vec<Cell>]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(columns.iter().map(|c| c.en));
    for r in rows {
        let _ = w.write_record(r.iter().map(|c| csv_field(c).into_owned()));
    }
    let _ = w.flush();
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_xlsx_tables_continue_on_further_sheets_under_the_header() {
        use std::io::Read;
        let mut w = XlsxWriter::new(3).unwrap();
        w.row(&[Cell::Text("tracking_no".into())]).unwrap();
        for i in 0..5 {
            w.row(&[Cell::Int(i)]).unwrap();
        }
        let file = Box::new(w).finish().unwrap().unwrap();
        let mut zip = zip::ZipArchive::new(file).unwrap();
        let mut sheets: Vec<String> = zip
            .file_names()
            .filter_map(Result::ok)
            .filter(|n| n.starts_with("xl/worksheets/sheet"))
            .map(|n| n.into_owned())
            .collect();
        sheets.sort();
        let mut rows = Vec::new();
        for name in &sheets {
            let mut xml = String::new();
            zip.by_name(name).unwrap().read_to_string(&mut xml).unwrap();
            rows.push(xml.matches("<row ").count());
        }
        // header + 2 rows, header + 2 rows, header + 1 row.
        assert_eq!(rows, vec![3, 3, 2], "{sheets:?}");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let cols = [Column { en: "a", zh: "甲" }, Column { en: "b", zh: "乙" }];
        let s = csv_string(
            &cols,
            &[
                vec![Cell::from("x,\"y\""), Cell::Int(3)],
                vec![Cell::Empty, Cell::Float(0.5)],
            ],
        );
        assert_eq!(s, "a,b\n\"x,\"\"y\"\"\",3\n,0.5\n");
    }
    #[test]
    fn csv_cells_that_look_like_formulas_are_neutralised() {
        let cols = [Column { en: "a", zh: "甲" }, Column { en: "b", zh: "乙" }];
        let rows: Vec<Vec<Cell>> = [
            "=HYPERLINK(\"http://127.0.0.1/x\",\"y\")",
            "@SUM(1+1)",
            "+1+1",
            "-1+1",
            "\t=1",
            "\r=1",
            "  =1+1",
            "\n@x",
            "＝1+1",
            "＋1",
            "－1",
            "＠x",
        ]
        .iter()
        .map(|t| vec![Cell::from(*t), Cell::Int(-3)])
        .collect();
        let s = csv_string(&cols, &rows);
        let mut r = csv::ReaderBuilder::new().from_reader(s.as_bytes());
        let read: Vec<Vec<String>> = r
            .records()
            .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
            .collect();
        for (row, original) in read.iter().zip(&rows) {
            let Cell::Text(t) = &original[0] else {
                unreachable!()
            };
            assert_eq!(row[0], format!("'{t}"));
            // A number stays a number, its sign included.
            assert_eq!(row[1], "-3");
        }
        // Ordinary text is left alone, dashes and at-signs inside it too.
        for t in [
            "GS-2026-000123",
            "红绿灯-坏了",
            "a@b.cn",
            "1+1",
            "'quoted",
            "",
        ] {
            assert_eq!(csv_field(&Cell::from(t)), t);
        }
    }

    #[test]
    fn xlsx_text_is_a_string_cell_never_a_formula() {
        use std::io::Read;
        let mut w = XlsxWriter::new(10).unwrap();
        w.row(&[Cell::from("title")]).unwrap();
        w.row(&[Cell::from("=HYPERLINK(\"http://127.0.0.1/x\",\"y\")")])
            .unwrap();
        w.row(&[Cell::from("plain")]).unwrap();
        let file = Box::new(w).finish().unwrap().unwrap();
        let mut zip = zip::ZipArchive::new(file).unwrap();
        let mut xml = String::new();
        zip.by_name("xl/worksheets/sheet1.xml")
            .unwrap()
            .read_to_string(&mut xml)
            .unwrap();
        assert!(!xml.contains("<f>"), "{xml}");
        assert!(xml.contains(r#"t="inlineStr"><is><t>=HYPERLINK("#), "{xml}");
        let mut styles = String::new();
        zip.by_name("xl/styles.xml")
            .unwrap()
            .read_to_string(&mut styles)
            .unwrap();
        assert!(styles.contains(r#"quotePrefix="1""#), "{styles}");
    }
}
