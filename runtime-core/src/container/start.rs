//! `start`: release the init waiting in a `created` container; it then
//! executes the user's program.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use super::Runtime;
use crate::error::{Error, Result};
use crate::state::{START_SOCKET, StateDir, Status};

impl Runtime {
    /// Starts container `id`, which must be `created`.
    pub fn start(&self, id: &str) -> Result<()> {
        let dir = StateDir::open(&self.root, id)?;
        let saved = dir.load()?;
        let status = dir.status(saved.as_ref());
        if status != Status::Created {
            return Err(Error::WrongState {
                id: id.to_owned(),
                op: "start",
                status,
            });
        }
        let died = |e: std::io::Error| Error::InitDied {
            reason: format!("start socket: {e}"),
        };
        let mut conn = UnixStream::connect(dir.short_path(START_SOCKET)).map_err(died)?;
        conn.write_all(&[1]).map_err(died)?;
        let mut ack = [0u8; 1];
        conn.read_exact(&mut ack).map_err(died)?;
        let socket = dir.path().join(START_SOCKET);
        std::fs::remove_file(&socket).map_err(|e| Error::io("remove", socket, e))
    }
}
