//! A container's `state.json` as `gorae state`, `start`, `kill` and
//! `delete` read it. Whatever parses must survive a round trip through the
//! writer unchanged (what gorae writes it must read back as it was), and
//! every error must print.
#![no_main]

use std::path::Path;

use gorae_core::state::Saved;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/run/gorae/fuzz/state.json");
    let saved = match Saved::from_json(path, data) {
        Ok(saved) => saved,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let written = match serde_json::to_vec(&saved) {
        Ok(bytes) => bytes,
        Err(e) => panic!("a parsed state does not serialize: {e}"),
    };
    match Saved::from_json(path, &written) {
        Ok(again) => assert_eq!(again, saved, "the state changed in a round trip"),
        Err(e) => panic!("gorae cannot read the state it wrote: {e}"),
    }
});
