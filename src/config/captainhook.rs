//! captainhook folders (`-captainhook DIR`): each `NAME.json` of bketelsen/captainhook's config
//! folder (`{"scripts":[{"command":"…","args":["…"]}]}`) becomes the hook `NAME`, served at
//! `POST /NAME` like any other hook (timeouts, jobs, concurrency, reloads). Its job runs
//! `hookrun captainhook-run` (see `cli::captainhook`), which runs the scripts in order as
//! captainhook does and prints captainhook's `-echo` answer. The run book and the request body
//! reach it as files, never through a shell.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The hidden subcommand that runs a run book.
pub const RUN_SUBCOMMAND: &str = "captainhook-run";
/// The variable naming the file that holds the run book (JSON).
pub const RUNBOOK_ENV: &str = "HOOKRUN_CAPTAINHOOK_RUNBOOK";
/// The variable naming the file that holds the request body, when there is one.
pub const POST_ENV: &str = "HOOKRUN_CAPTAINHOOK_POST";

/// How captainhook folders are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captainhook {
    /// The hookrun binary, which jobs run as `hookrun captainhook-run`.
    pub program: String,
    /// `-echo`: answer with the scripts' results, as captainhook `-echo` does.
    pub echo: bool,
}

/// A run book as captainhook reads it: Go's `encoding/json` ignores unknown keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunBook {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub scripts: Vec<Script>,
    /// CIDRs a request must come from (captainhook answers 401 otherwise).
    #[serde(
        default,
        rename = "allowedNetworks",
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allowed_networks: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    #[serde(default)]
    pub command: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub args: Vec<String>,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl RunBook {
    pub fn parse(text: &str) -> Result<RunBook, String> {
        serde_json::from_str(text).map_err(|e| format!("invalid run book: {e}"))
    }
}

/// The hook id of a file in a captainhook folder: `NAME` of `NAME.json`; other files are not
/// run books (captainhook only ever opens `{id}.json`).
pub fn hook_id(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    let id = name.strip_suffix(".json")?;
    (!id.is_empty() && !id.starts_with('.')).then(|| id.to_string())
}

/// The raw hook that serves the run book `text` (parsed as `book`) as `id`. `allowedNetworks`
/// becomes an `ip-whitelist` rule answering 401, captainhook's status for it.
pub fn raw_hook(id: &str, text: &str, book: &RunBook, runner: &Captainhook) -> Value {
    let mut hook = json!({
        "id": id,
        "execute-command": runner.program,
        "pass-arguments-to-command": [{"source": "string", "name": RUN_SUBCOMMAND}],
        "pass-file-to-command": [
            {"source": "string", "name": text, "envname": RUNBOOK_ENV},
            {"source": "raw-request-body", "envname": POST_ENV},
        ],
        "http-methods": ["POST"],
        "include-command-output-in-response": runner.echo,
        "include-command-output-in-response-on-error": runner.echo,
    });
    let networks: Vec<Value> = book
        .allowed_networks
        .iter()
        .map(|cidr| json!({"match": {"type": "ip-whitelist", "ip-range": cidr}}))
        .collect();
    if !networks.is_empty() {
        hook["trigger-rule"] = json!({ "or": networks });
        hook["trigger-rule-mismatch-http-response-code"] = json!(401);
    }
    hook
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_books_are_read_as_go_reads_them() {
        let book = RunBook::parse(
            r#"{"scripts":[{"command":"echo","args":["hello"]},{"command":"true"}],"x":1}"#,
        )
        .unwrap();
        assert_eq!(book.scripts.len(), 2);
        assert_eq!(book.scripts[0].args, ["hello"]);
        assert!(book.scripts[1].args.is_empty());
        assert_eq!(
            RunBook::parse(r#"{"scripts":null}"#).unwrap(),
            RunBook::default()
        );
        assert!(RunBook::parse("{").is_err());
    }

    #[test]
    fn only_json_files_are_run_books() {
        assert_eq!(
            hook_id(Path::new("/c/endpoint1.json")).as_deref(),
            Some("endpoint1")
        );
        assert_eq!(hook_id(Path::new("/c/notes.txt")), None);
        assert_eq!(hook_id(Path::new("/c/.json")), None);
        assert_eq!(hook_id(Path::new("/c/..data")), None);
    }
}
