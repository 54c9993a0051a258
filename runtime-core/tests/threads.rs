//! gorae-core inside a multi-threaded program: 100 containers created,
//! started and deleted while 8 other threads allocate and free memory the
//! whole time. After the clone only async-signal-safe work happens in the
//! child (everything it needs is prepared before), so a lock another
//! thread held at the clone (the allocator's) can never hang it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gorae_core::{CreateOptions, Runtime, Status};

#[test]
fn a_hundred_containers_while_eight_threads_allocate() {
    if !support::can_run_containers() {
        return;
    }
    let dir = support::scratch("threads");
    let bundle = support::bundle(&dir.join("bundle"), &["true"], true);
    let stop = Arc::new(AtomicBool::new(false));
    let allocations = Arc::new(AtomicU64::new(0));
    let churners: Vec<_> = (0..8)
        .map(|t| {
            let stop = Arc::clone(&stop);
            let allocations = Arc::clone(&allocations);
            std::thread::spawn(move || {
                let mut keep: Vec<Vec<u8>> = Vec::new();
                let mut n: usize = t;
                while !stop.load(Ordering::Relaxed) {
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    keep.push(vec![t as u8; 64 + n % 4096]);
                    if keep.len() > 64 {
                        keep.drain(..32);
                    }
                    allocations.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let runtime = Runtime::new(dir.join("state"));
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..100 {
        assert!(Instant::now() < deadline, "took too long at container {i}");
        let container = runtime.container(format!("t{i}"));
        let created = container.create(&CreateOptions::new(&bundle)).unwrap();
        container.start().unwrap();
        assert_eq!(created.wait().unwrap(), 0);
        assert_eq!(container.state().unwrap().status, Status::Stopped);
        container.delete(false).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for c in churners {
        c.join().unwrap();
    }
    assert!(
        allocations.load(Ordering::Relaxed) > 1000,
        "the threads did not run"
    );
    assert!(runtime.list().unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
