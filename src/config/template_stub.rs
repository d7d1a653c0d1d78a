//! Temporary stand-in for the template engine (being written); renders text unchanged.
pub trait TemplateEnv {
    fn getenv(&self, name: &str) -> Option<String>;
    fn read_file(&self, path: &std::path::Path) -> std::io::Result<String>;
    fn credentials_dir(&self) -> Option<std::path::PathBuf>;
}
pub struct SystemEnv;
impl TemplateEnv for SystemEnv {
    fn getenv(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn read_file(&self, path: &std::path::Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn credentials_dir(&self) -> Option<std::path::PathBuf> {
        std::env::var_os("CREDENTIALS_DIRECTORY").map(Into::into)
    }
}
#[derive(Debug, thiserror::Error)]
#[error("template support is not built yet")]
pub struct TemplateError;
pub fn render(source: &str, _env: &dyn TemplateEnv) -> Result<String, TemplateError> {
    Ok(source.to_string())
}
