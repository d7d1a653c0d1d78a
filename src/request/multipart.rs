//! `multipart/form-data` bodies, read as the reference reads them (Go's `mime/multipart` and
//! `ParseMultipartForm`): lines may end in CRLF or, when the first boundary line does, in a bare
//! LF; preamble lines are skipped; at most 1,000 parts. Each field's first value is a string; the
//! first file part of a name is decoded as a JSON object when one of its Content-Type values is
//! exactly `application/json` or when `parse-parameters-as-json` names it (a JSON file then
//! replaces a field of the same name); other files are ignored. A form with neither values nor
//! JSON files leaves no payload at all (the reference's nil map), and a JSON file that is not an
//! object becomes a nil map.

use bytes::Bytes;

use super::json::{Decoded, Document, ObjectWriter};
use super::mime::parse_media_type;
use crate::config::canonical_header_key;

/// Go's `ReadForm` refuses forms with more parts.
const MAX_PARTS: usize = 1000;
/// Go's `bufio.Reader` size in the multipart reader: longer lines between parts are an error.
const MAX_LINE: usize = 4096;

/// Why a multipart body was refused (the reference answers 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("request Content-Type isn't multipart/form-data")]
    NotMultipart,
    #[error("no multipart boundary param in Content-Type")]
    MissingBoundary,
    #[error("multipart: boundary is empty")]
    EmptyBoundary,
    #[error("multipart: NextPart: EOF")]
    Eof,
    #[error("multipart: NextPart: bufio: buffer full")]
    LineTooLong,
    #[error("multipart: expecting a new Part; got line {0:?}")]
    ExpectedPart(String),
    #[error("multipart: unexpected line in Next(): {0:?}")]
    UnexpectedLine(String),
    #[error("malformed MIME header: {0}")]
    Header(String),
    #[error("unexpected EOF")]
    UnexpectedEof,
    #[error("multipart: message too large")]
    TooLarge,
    #[error("invalid query string")]
    Query,
}

/// One part: its headers (canonical name, value) and its content.
struct Part<'b> {
    headers: Vec<(String, String)>,
    body: &'b [u8],
}

impl Part<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The disposition's `name` (for `form-data` only) and `filename`.
    fn names(&self) -> (String, String) {
        let parsed = self
            .header("Content-Disposition")
            .and_then(parse_media_type);
        match parsed {
            Some((disposition, mut params)) => {
                let filename = params.remove("filename").unwrap_or_default();
                let name = match disposition.as_str() {
                    "form-data" => params.remove("name").unwrap_or_default(),
                    _ => String::new(),
                };
                (name, filename)
            }
            None => Default::default(),
        }
    }

    fn is_json(&self) -> bool {
        self.headers
            .iter()
            .any(|(k, v)| k == "Content-Type" && v == "application/json")
    }
}

/// The payload of a multipart body. `content_type` is the request's own header (as Go reads
/// it, even when the hook overrides the type); `json_names` the payload names
/// `parse-parameters-as-json` lists; `max_memory` is `-max-multipart-mem` (see
/// [`within_memory`]); `query_malformed` fails the form as Go's `ParseForm` does.
pub fn parse(
    content_type: &str,
    body: &Bytes,
    json_names: &[&str],
    max_memory: i64,
    query_malformed: bool,
) -> Result<Option<Document>, MultipartError> {
    let (media_type, params) =
        parse_media_type(content_type).ok_or(MultipartError::NotMultipart)?;
    if media_type != "multipart/form-data" {
        return Err(MultipartError::NotMultipart);
    }
    let boundary = params
        .get("boundary")
        .ok_or(MultipartError::MissingBoundary)?;
    if boundary.is_empty() {
        return Err(MultipartError::EmptyBoundary);
    }
    let parts = Reader::new(body, boundary.as_bytes()).parts()?;
    within_memory(&parts, max_memory)?;
    if query_malformed {
        return Err(MultipartError::Query);
    }
    Ok(payload(&parts, json_names))
}

/// Go's `ReadForm(maxMemory)` (`-max-multipart-mem`) keeps up to `maxMemory` bytes of files
/// in memory and writes larger files to temporary files; values, names, file headers and the
/// files kept in memory must fit in `maxMemory` + 10 MiB, or the form is refused. hookrun
/// holds the whole body in memory (within `-max-body-size` and the memory budget) and
/// writes nothing to disk, so only the refusal is observable: it is counted here as Go counts
/// it, so that the same forms are refused.
fn within_memory(parts: &[Part], max_memory: i64) -> Result<(), MultipartError> {
    /// What Go counts for each named part (a map entry) and each file part.
    const MAP_ENTRY: i64 = 200;
    const FILE_HEADER: i64 = 100;
    let mut memory = match max_memory.wrapping_add(10 << 20) {
        left if left > 0 => left,
        _ if max_memory < 0 => 0,
        _ => i64::MAX,
    };
    let mut file_memory = if max_memory == i64::MAX {
        max_memory - 1
    } else {
        max_memory
    };
    let len = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    for part in parts {
        let (name, filename) = part.names();
        if name.is_empty() {
            continue;
        }
        memory -= len(name.len()) + MAP_ENTRY;
        if memory < 0 {
            return Err(MultipartError::TooLarge);
        }
        let size = len(part.body.len());
        if filename.is_empty() {
            memory -= size;
            if memory < 0 {
                return Err(MultipartError::TooLarge);
            }
            continue;
        }
        memory -= header_size(&part.headers) + MAP_ENTRY + FILE_HEADER;
        if memory < 0 {
            return Err(MultipartError::TooLarge);
        }
        // A larger file goes to a temporary file in Go, and costs no memory.
        if size <= file_memory {
            file_memory -= size;
            memory -= size;
        }
    }
    Ok(())
}

/// Go's `mimeHeaderSize`: each distinct header name counts once with a map entry's overhead,
/// each value its length.
fn header_size(headers: &[(String, String)]) -> i64 {
    let mut size = 400;
    for (i, (name, value)) in headers.iter().enumerate() {
        if !headers[..i].iter().any(|(seen, _)| seen == name) {
            size += name.len() + 200;
        }
        size += value.len();
    }
    i64::try_from(size).unwrap_or(i64::MAX)
}

fn payload(parts: &[Part], json_names: &[&str]) -> Option<Document> {
    let mut doc = ObjectWriter::new(true);
    let named: Vec<(String, bool, &Part)> = parts
        .iter()
        .filter_map(|p| {
            let (name, filename) = p.names();
            (!name.is_empty()).then_some((name, !filename.is_empty(), p))
        })
        .collect();
    // Values, last to first: the first value of a name is written last and wins.
    for (name, _, part) in named.iter().rev().filter(|(_, file, _)| !file) {
        doc.string(name.as_bytes(), part.body);
    }
    // Then the first file part of each name, after the values it replaces.
    for (i, (name, _, part)) in named.iter().enumerate().filter(|(_, (_, file, _))| *file) {
        let first = !named[..i].iter().any(|(n, file, _)| *file && n == name);
        let as_json = json_names.contains(&name.as_str()) || part.is_json();
        if !(first && as_json) {
            continue;
        }
        match Document::decode_object(Bytes::copy_from_slice(part.body)) {
            Ok(Decoded::Payload(file)) => doc.document(name.as_bytes(), &file),
            Ok(Decoded::Null) | Err(_) => doc.nil_map(name.as_bytes()),
        }
    }
    (!doc.is_empty()).then(|| doc.finish())
}

/// Go's multipart reader over a body held in memory.
struct Reader<'b> {
    body: &'b [u8],
    pos: usize,
    /// `\r\n`, or `\n` once the first boundary line ends in a bare LF.
    nl: &'static [u8],
    dash_boundary: Vec<u8>,
}

impl<'b> Reader<'b> {
    fn new(body: &'b [u8], boundary: &[u8]) -> Self {
        Reader {
            body,
            pos: 0,
            nl: b"\r\n",
            dash_boundary: [b"--", boundary].concat(),
        }
    }

    fn parts(mut self) -> Result<Vec<Part<'b>>, MultipartError> {
        let mut parts = Vec::new();
        while let Some(part) = self.next_part(parts.len())? {
            if parts.len() == MAX_PARTS {
                return Err(MultipartError::TooLarge);
            }
            parts.push(part);
        }
        Ok(parts)
    }

    /// The next line (with its `\n`), and whether the body ended without one.
    fn line(&mut self) -> Result<(&'b [u8], bool), MultipartError> {
        let rest = &self.body[self.pos..];
        let window = &rest[..rest.len().min(MAX_LINE)];
        match memchr::memchr(b'\n', window) {
            Some(i) => {
                self.pos += i + 1;
                Ok((&rest[..=i], false))
            }
            None if rest.len() > MAX_LINE => Err(MultipartError::LineTooLong),
            None => {
                self.pos = self.body.len();
                Ok((rest, true))
            }
        }
    }

    /// Go's `NextPart`.
    fn next_part(&mut self, parts_read: usize) -> Result<Option<Part<'b>>, MultipartError> {
        let mut expect_new_part = false;
        loop {
            let (line, eof) = self.line()?;
            if eof && self.is_final(line) {
                return Ok(None);
            }
            if eof {
                return Err(MultipartError::Eof);
            }
            if self.is_delimiter(line, parts_read) {
                let headers = self.headers()?;
                let body = self.part_body()?;
                return Ok(Some(Part { headers, body }));
            }
            if self.is_final(line) {
                return Ok(None);
            }
            let shown = || String::from_utf8_lossy(line).into_owned();
            if expect_new_part {
                return Err(MultipartError::ExpectedPart(shown()));
            }
            if parts_read == 0 {
                continue; // the preamble
            }
            if line == self.nl {
                expect_new_part = true;
                continue;
            }
            return Err(MultipartError::UnexpectedLine(shown()));
        }
    }

    /// `--boundary--`, optional spaces and tabs, and the line end or the end of the body.
    fn is_final(&self, line: &[u8]) -> bool {
        let Some(rest) = line
            .strip_prefix(&self.dash_boundary[..])
            .and_then(|r| r.strip_prefix(b"--"))
        else {
            return false;
        };
        let rest = skip_lwsp(rest);
        rest.is_empty() || rest == self.nl
    }

    /// `--boundary`, optional spaces and tabs, and the line end; the first one decides
    /// whether lines end in CRLF or LF.
    fn is_delimiter(&mut self, line: &[u8], parts_read: usize) -> bool {
        let Some(rest) = line.strip_prefix(&self.dash_boundary[..]) else {
            return false;
        };
        let rest = skip_lwsp(rest);
        if parts_read == 0 && rest == b"\n" {
            self.nl = b"\n";
        }
        rest == self.nl
    }

    /// Go's `textproto.ReadMIMEHeader`: lines to a blank one, continuation lines joined.
    fn headers(&mut self) -> Result<Vec<(String, String)>, MultipartError> {
        let mut headers = Vec::new();
        if matches!(self.body.get(self.pos), Some(b' ' | b'\t')) {
            let line = self.header_line().unwrap_or_default();
            return Err(MultipartError::Header(format!(
                "malformed MIME header initial line: {}",
                String::from_utf8_lossy(line)
            )));
        }
        loop {
            let line = self.header_line().ok_or(MultipartError::UnexpectedEof)?;
            if line.is_empty() {
                return Ok(headers);
            }
            let mut line = trim(line).to_vec();
            while matches!(self.body.get(self.pos), Some(b' ' | b'\t')) {
                let Some(more) = self.header_line() else {
                    break;
                };
                line.push(b' ');
                line.extend_from_slice(trim(more));
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(MultipartError::Header(format!(
                    "missing colon: {:?}",
                    String::from_utf8_lossy(&line)
                )));
            };
            let key = canonical_header_key(&String::from_utf8_lossy(&line[..colon]));
            if key.is_empty() {
                continue;
            }
            let value = skip_lwsp(&line[colon + 1..]);
            headers.push((key, String::from_utf8_lossy(value).into_owned()));
        }
    }

    /// One header line without its line end; `None` at the end of the body.
    fn header_line(&mut self) -> Option<&'b [u8]> {
        let rest = &self.body[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let (line, advance) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += advance;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }

    /// The part's content: up to a line end followed by the boundary (itself followed by
    /// `--`, space, tab, CR, LF or the end of the body); a boundary right at the start is an
    /// empty part. The line end and the boundary are left for `next_part`.
    fn part_body(&mut self) -> Result<&'b [u8], MultipartError> {
        let start = self.pos;
        let rest = &self.body[start..];
        let dash = &self.dash_boundary[..];
        if rest.starts_with(dash) && self.boundary_ends(&rest[dash.len()..]) {
            return Ok(&rest[..0]);
        }
        let nl_dash = [self.nl, dash].concat();
        let mut from = 0;
        while let Some(i) = memchr::memmem::find(&rest[from..], &nl_dash) {
            let at = from + i;
            if self.boundary_ends(&rest[at + nl_dash.len()..]) {
                self.pos = start + at;
                return Ok(&rest[..at]);
            }
            from = at + nl_dash.len();
        }
        Err(MultipartError::UnexpectedEof)
    }

    /// Go's `matchAfterPrefix` with the whole body read.
    fn boundary_ends(&self, after: &[u8]) -> bool {
        match after.first() {
            None => true,
            Some(b' ' | b'\t' | b'\r' | b'\n') => true,
            Some(b'-') => after.get(1) == Some(&b'-'),
            Some(_) => false,
        }
    }
}

fn skip_lwsp(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    &b[n..]
}

fn trim(b: &[u8]) -> &[u8] {
    let b = skip_lwsp(b);
    let n = b
        .iter()
        .rev()
        .take_while(|&&c| c == b' ' || c == b'\t')
        .count();
    &b[..b.len() - n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Result<Option<String>, MultipartError> {
        let body = Bytes::from(body.to_string());
        parse(
            "multipart/form-data; boundary=xxx",
            &body,
            &["forced"],
            1 << 20,
            false,
        )
        .map(|doc| doc.map(|d| d.marshal()))
    }

    #[test]
    fn reads_forms_like_go() {
        let crlf =
            "pre\r\n--xxx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--xxx\r\n\
                    Content-Disposition: form-data; name=\"a\"\r\n\r\n2\r\n--xxx--\r\n";
        assert_eq!(form(crlf), Ok(Some(r#"{"a":"1"}"#.into())));
        // Bare LF line ends, as upstream's own test sends them.
        let lf = "--xxx\nContent-Disposition: form-data; name=\"payload\"\n\n{\"x\":1}\n\n--xxx\n\
                  Content-Disposition: form-data; name=\"thumb\"; filename=\"t.jpg\"\n\
                  Content-Type: application/octet-stream\n\nbinary\n--xxx--";
        assert_eq!(
            form(lf),
            Ok(Some("{\"payload\":\"{\\\"x\\\":1}\\n\"}".into()))
        );
        // A JSON file replaces a value of the same name; a non-object JSON file is a nil map.
        let json = "--xxx\r\nContent-Disposition: form-data; name=\"j\"\r\n\r\nv\r\n--xxx\r\n\
                    Content-Disposition: form-data; name=\"j\"; filename=\"f\"\r\n\
                    Content-Type: application/json\r\n\r\n{\"k\":1e3}\r\n--xxx\r\n\
                    Content-Disposition: form-data; name=\"forced\"; filename=\"g\"\r\n\r\n[1]\r\n--xxx--";
        assert_eq!(
            form(json),
            Ok(Some(r#"{"forced":null,"j":{"k":1e3}}"#.into()))
        );
        // Only files that are not JSON: no payload.
        let file = "--xxx\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\nx\r\n--xxx--";
        assert_eq!(form(file), Ok(None));
        // An empty part right before the boundary, and "--xxxy" inside a value.
        let empty = "--xxx\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n--xxx\r\n\
                     Content-Disposition: form-data; name=\"b\"\r\n\r\n--xxxy\r\n--xxx--";
        assert_eq!(form(empty), Ok(Some(r#"{"b":"--xxxy","e":""}"#.into())));
    }

    #[test]
    fn refuses_what_go_refuses() {
        assert_eq!(
            form("--xxx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1"),
            Err(MultipartError::UnexpectedEof)
        );
        assert_eq!(
            form("--xxx\r\nbad header\r\n\r\n\r\n--xxx--")
                .map(|_| ())
                .unwrap_err()
                .to_string(),
            "malformed MIME header: missing colon: \"bad header\""
        );
        assert_eq!(form(""), Err(MultipartError::Eof));
        assert!(form("--xxx\r\n\r\nv\r\n--xxx\r\nstray").is_err());
        let many = "--xxx\r\n\r\nv\r\n".repeat(MAX_PARTS + 1) + "--xxx--";
        assert_eq!(form(&many), Err(MultipartError::TooLarge));
        let body = Bytes::from_static(b"--xxx--");
        let err = |ct: &str, query_malformed: bool| {
            parse(ct, &body, &[], 1 << 20, query_malformed)
                .map(|_| ())
                .unwrap_err()
        };
        assert_eq!(
            err("multipart/form-data", false),
            MultipartError::MissingBoundary
        );
        assert_eq!(
            err("multipart/form-data; boundary=xxx", true),
            MultipartError::Query
        );
    }
}
