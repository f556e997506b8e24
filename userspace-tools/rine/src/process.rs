//! One Redox process: its Linux process, its handle table, and the state of its threads,
//! the children it is forking and the exec it is building. The syscall layer acts on it;
//! the main loop owns every process.

use std::path::PathBuf;

use nix::{libc::user_regs_struct, unistd::Pid};
use syscall::Result;

use crate::{exec::Exec, fork::Forks, handles::Table, linux::Child, threads::Threads};

pub struct Process {
    pub child: Child,
    pub table: Table,
    /// The host directory that is its `file` scheme.
    pub root: PathBuf,
    /// Its pid as the program sees it (`ProcMeta`): the Linux pid for the first process,
    /// then numbers rine hands out at each fork.
    pub pid: u32,
    /// The parent's pid: the tracer's own for the first process.
    pub parent: u32,
    pub threads: Threads,
    /// Children between `dup(proc, "fork")` and `start`.
    pub forks: Forks,
    pub exec: Exec,
    /// Children `start` released, for the main loop to take.
    spawned: Vec<Process>,
}

impl Process {
    /// A process whose only thread is `child`'s first.
    pub fn new(child: Child, table: Table, root: PathBuf, pid: u32, parent: u32) -> Self {
        let threads = Threads::only(child.pid);
        Self {
            child,
            table,
            root,
            pid,
            parent,
            threads,
            forks: Forks::default(),
            exec: Exec::default(),
            spawned: Vec::new(),
        }
    }

    /// `start` of child `id`: it becomes a process of its own, for the main loop to take.
    pub fn fork_start(&mut self, id: usize, like: &user_regs_struct) -> Result<()> {
        let started = self.forks.start(id, &self.child.host, like)?;
        let child = Self::new(
            started.child,
            started.table,
            self.root.clone(),
            started.pid,
            self.pid,
        );
        self.spawned.push(child);
        Ok(())
    }

    /// The children started since the last call.
    pub fn take_spawned(&mut self) -> Vec<Process> {
        std::mem::take(&mut self.spawned)
    }

    /// exec's switch to the new image it chose, made by thread `tid`, the one that goes on;
    /// the old image's pending forks and spaces are gone. Returns the registers it resumes
    /// with.
    pub fn exec_switch(
        &mut self,
        tid: Pid,
        chosen: (usize, u64, u64),
        regs: &user_regs_struct,
    ) -> std::result::Result<user_regs_struct, String> {
        let out = self.exec.switch(&self.child, tid, chosen, regs)?;
        self.threads.keep_only(tid);
        self.forks.clear();
        Ok(out)
    }
}
