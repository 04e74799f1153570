//! Query strings and form bodies, and the `since`, `timeout`, `client` and `transport` values read
//! from them: a value or a clear error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transport_lab::ledger::valid_client_id;
use transport_lab::params::Params;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = Params::parse(data, "fuzz") else {
        return;
    };
    let _ = params.cursor("since");
    if let Ok(Some(seconds)) = params.seconds("timeout", 60) {
        assert!(seconds <= 60);
    }
    if let Ok(Some(client)) = params.client() {
        assert!(valid_client_id(client));
    }
    let _ = params.transport();
});
