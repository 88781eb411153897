//! The cluster peers file (`ClusterSettings::peers`): byte 0 picks `cluster.processes` (1–16),
//! the rest is the file, written to a temporary path as an operator's file would be. Any bytes
//! must give the peers or a message; peers given must be as many as the processes, each a
//! `host:port` and an `http(s)://` URL.

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use flowmart::config::ClusterSettings;
use libfuzzer_sys::fuzz_target;

/// One file per fuzzing process (`-fork`/`-jobs` run several).
static PATH: LazyLock<PathBuf> =
    LazyLock::new(|| std::env::temp_dir().join(format!("flowmart-fuzz-peers-{}.txt", std::process::id())));

fuzz_target!(|data: &[u8]| {
    let Some((processes, file)) = data.split_first() else { return };
    let processes = usize::from(processes % 16) + 1;
    std::fs::write(&*PATH, file).expect("the temp dir is writable");
    let settings =
        ClusterSettings { processes, process_index: 0, peers: Some(PATH.clone()), ..ClusterSettings::default() };
    if let Ok(peers) = settings.peers() {
        assert_eq!(peers.len(), processes);
        for peer in &peers {
            assert!(peer.timely.contains(':'), "{peer:?}");
            assert!(peer.api.starts_with("http://") || peer.api.starts_with("https://"), "{peer:?}");
        }
    }
});
