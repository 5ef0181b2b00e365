//! The bounded on-disk queue of reports waiting for the server.
//!
//! One file per report, `NNNNNNNNNNNNNNNNNNNN.json` with an increasing sequence number, so
//! the directory listing is the order; a report is written to a temporary name and renamed,
//! so a crash never leaves half a report under a queue name. When the queue holds more than
//! its bounds the oldest reports are dropped: each report is a full snapshot of the host, so
//! the newest supersede them, and inventories they carried are sent again by later reports
//! (the agent marks an inventory delivered only when a report carrying it is accepted).

use std::path::{Path, PathBuf};

use crate::AgentError;

/// The queue's bounds.
#[derive(Clone, Copy, Debug)]
pub struct QueueLimits {
    /// Most reports kept. Default 100.
    pub max_reports: usize,
    /// Most bytes kept. Default 256 MiB.
    pub max_bytes: u64,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_reports: 100,
            max_bytes: 256 << 20,
        }
    }
}

/// A queue in a directory.
pub struct Queue {
    dir: PathBuf,
    limits: QueueLimits,
    next: u64,
    dropped: u64,
}

/// A queued report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    /// Its file.
    pub path: PathBuf,
    /// Its sequence number.
    pub seq: u64,
}

fn seq_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20).then(|| digits.parse().ok())?
}

impl Queue {
    /// Opens (creating) the queue in `dir`; reports already there are kept, in order.
    pub fn open(dir: &Path, limits: QueueLimits) -> Result<Queue, AgentError> {
        std::fs::create_dir_all(dir).map_err(|e| AgentError::io(dir, e))?;
        let mut queue = Queue {
            dir: dir.to_owned(),
            limits,
            next: 0,
            dropped: 0,
        };
        queue.next = queue.list()?.last().map_or(0, |q| q.seq + 1);
        Ok(queue)
    }

    /// The queued reports, oldest first.
    pub fn list(&self) -> Result<Vec<Queued>, AgentError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| AgentError::io(&self.dir, e))? {
            let path = entry.map_err(|e| AgentError::io(&self.dir, e))?.path();
            if let Some(seq) = seq_of(&path) {
                out.push(Queued { path, seq });
            }
        }
        out.sort_by_key(|q| q.seq);
        Ok(out)
    }

    /// How many reports wait.
    pub fn len(&self) -> Result<usize, AgentError> {
        Ok(self.list()?.len())
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> Result<bool, AgentError> {
        Ok(self.len()? == 0)
    }

    /// Reports dropped to keep within the bounds since the queue was opened.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Adds a report, then drops the oldest ones while the queue is over its bounds.
    pub fn push(&mut self, body: &[u8]) -> Result<Queued, AgentError> {
        let seq = self.next;
        self.next += 1;
        let path = self.dir.join(format!("{seq:020}.json"));
        let tmp = self.dir.join(format!(".{seq:020}.tmp"));
        std::fs::write(&tmp, body).map_err(|e| AgentError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| AgentError::io(&path, e))?;
        let mut queued = self.list()?;
        let mut sizes: Vec<u64> = queued
            .iter()
            .map(|q| std::fs::metadata(&q.path).map(|m| m.len()).unwrap_or(0))
            .collect();
        // The newest report always stays, even alone over the byte bound.
        while queued.len() > 1
            && (queued.len() > self.limits.max_reports
                || sizes.iter().sum::<u64>() > self.limits.max_bytes)
        {
            let oldest = queued.remove(0);
            sizes.remove(0);
            self.remove(&oldest)?;
            self.dropped += 1;
            tracing::warn!(
                seq = oldest.seq,
                "report queue full: dropped the oldest report"
            );
        }
        Ok(Queued { path, seq })
    }

    /// Reads a queued report.
    pub fn read(&self, q: &Queued) -> Result<Vec<u8>, AgentError> {
        std::fs::read(&q.path).map_err(|e| AgentError::io(&q.path, e))
    }

    /// Removes a report (sent, or dropped).
    pub fn remove(&self, q: &Queued) -> Result<(), AgentError> {
        match std::fs::remove_file(&q.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AgentError::io(&q.path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn oldest_reports_are_dropped_beyond_the_bounds_and_order_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let limits = QueueLimits {
            max_reports: 3,
            max_bytes: 1 << 20,
        };
        let mut q = Queue::open(dir.path(), limits).unwrap();
        for i in 0..5 {
            q.push(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
        }
        assert_eq!(q.dropped(), 2);
        let kept: Vec<u64> = q.list().unwrap().iter().map(|x| x.seq).collect();
        assert_eq!(kept, vec![2, 3, 4]);
        let mut reopened = Queue::open(dir.path(), limits).unwrap();
        let next = reopened.push(b"{}").unwrap();
        assert_eq!(next.seq, 5);
        assert_eq!(
            reopened.read(&reopened.list().unwrap()[0]).unwrap(),
            b"{\"n\":3}"
        );

        let mut tiny = Queue::open(
            &dir.path().join("tiny"),
            QueueLimits {
                max_reports: 10,
                max_bytes: 10,
            },
        )
        .unwrap();
        tiny.push(&[b'x'; 8]).unwrap();
        tiny.push(&[b'y'; 8]).unwrap();
        assert_eq!(tiny.len().unwrap(), 1, "16 bytes exceed the 10-byte bound");
    }
}
