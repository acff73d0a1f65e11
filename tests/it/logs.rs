//! One process-wide capture of every log event (all levels), for the tests that scan logs for
//! secrets. A thread's scoped subscriber is not enough in a multi-threaded test binary: other
//! tests touch the same callsites concurrently, and the capture came back empty.

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

/// The captured text; `mark()` and `since()` give one test's share (others' lines may be
/// mixed in, which only widens a scan for secrets).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn mark(&self) -> usize {
        self.0.lock().expect("logs").len()
    }

    pub fn since(&self, mark: usize) -> String {
        let bytes = self.0.lock().expect("logs");
        String::from_utf8_lossy(&bytes[mark.min(bytes.len())..]).into_owned()
    }
}

static LOGS: OnceLock<Logs> = OnceLock::new();

/// Installs the global subscriber on first use (TRACE, no colours) and returns its buffer.
pub fn capture() -> &'static Logs {
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the test binary");
        logs
    })
}
