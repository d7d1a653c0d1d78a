//! One differential case: a request, whether its hook's command is expected to run, and — only
//! for the documented deliberate differences — what each server must answer instead of "the
//! same thing".

use super::http::RawRequest;

/// Whether the case's command runs (on both servers, unless the case is deliberate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    Never,
    Once,
}

/// What one server must answer in a deliberate-difference case.
#[derive(Debug, Clone)]
pub struct Expect {
    pub status: u16,
    /// Exact body, when given.
    pub body: Option<String>,
    pub runs: Runs,
    /// A piece the command's record (as JSON text) must contain.
    pub record_contains: Option<String>,
}

impl Expect {
    pub fn status(status: u16) -> Self {
        Expect {
            status,
            body: None,
            runs: Runs::Never,
            record_contains: None,
        }
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.to_string());
        self
    }

    pub fn runs(mut self) -> Self {
        self.runs = Runs::Once;
        self
    }

    /// The command runs, and its record contains `piece` (JSON text, so quotes are escaped).
    pub fn recorded(mut self, piece: &str) -> Self {
        self.runs = Runs::Once;
        self.record_contains = Some(piece.to_string());
        self
    }
}

/// A deliberate difference: the reason (as in the README's Compatibility section) and what
/// each server answers.
#[derive(Debug, Clone)]
pub struct Deliberate {
    pub reason: &'static str,
    pub hookrun: Expect,
    pub reference: Expect,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub request: RawRequest,
    pub runs: Runs,
    pub deliberate: Option<Deliberate>,
}

impl Case {
    pub fn new(method: &str, name: &str, target: &str) -> Self {
        Case {
            name: name.to_string(),
            request: RawRequest {
                method: method.to_string(),
                target: target.to_string(),
                ..Default::default()
            },
            runs: Runs::Never,
            deliberate: None,
        }
    }

    pub fn post(name: &str, target: &str) -> Self {
        Case::new("POST", name, target)
    }

    pub fn get(name: &str, target: &str) -> Self {
        Case::new("GET", name, target)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request
            .headers
            .push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        if !content_type.is_empty() {
            self = self.header("Content-Type", content_type);
        }
        self.request.body = body.into();
        self
    }

    pub fn json(self, body: &str) -> Self {
        self.body("application/json", body)
    }

    pub fn form(self, body: &str) -> Self {
        self.body("application/x-www-form-urlencoded", body)
    }

    pub fn xml(self, body: &str) -> Self {
        self.body("application/xml", body)
    }

    pub fn multipart(self, form: &Multipart) -> Self {
        let ct = format!("multipart/form-data; boundary={}", Multipart::BOUNDARY);
        self.body(&ct, form.encode())
    }

    /// The hook's command is expected to run once on each server.
    pub fn runs(mut self) -> Self {
        self.runs = Runs::Once;
        self
    }

    pub fn deliberate(mut self, reason: &'static str, hookrun: Expect, reference: Expect) -> Self {
        self.deliberate = Some(Deliberate {
            reason,
            hookrun,
            reference,
        });
        self
    }
}

/// A `multipart/form-data` body built part by part.
#[derive(Debug, Clone, Default)]
pub struct Multipart {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

impl Multipart {
    pub const BOUNDARY: &'static str = "diffsuiteboundary7MA4YWxk";

    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.parts.push(Part {
            name: name.to_string(),
            filename: None,
            content_type: None,
            data: value.as_bytes().to_vec(),
        });
        self
    }

    pub fn file(mut self, name: &str, filename: &str, content_type: &str, data: &str) -> Self {
        self.parts.push(Part {
            name: name.to_string(),
            filename: Some(filename.to_string()),
            content_type: Some(content_type.to_string()).filter(|c| !c.is_empty()),
            data: data.as_bytes().to_vec(),
        });
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.parts {
            out.extend_from_slice(format!("--{}\r\n", Self::BOUNDARY).as_bytes());
            let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", p.name);
            if let Some(f) = &p.filename {
                disposition.push_str(&format!("; filename=\"{f}\""));
            }
            out.extend_from_slice(disposition.as_bytes());
            out.extend_from_slice(b"\r\n");
            if let Some(ct) = &p.content_type {
                out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&p.data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{}--\r\n", Self::BOUNDARY).as_bytes());
        out
    }
}
