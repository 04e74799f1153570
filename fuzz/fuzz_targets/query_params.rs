//! Query strings and form bodies, and the `since`, `timeout`, `client` and `transport` values read
//! from them: a value or a clear error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transport_lab::ledger::{check_client_id, valid_client_id};
use transport_lab::params::Params;
use transport_lab::transports::Transport;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = Params::parse(data, "fuzz") else {
        return;
    };
    let _ = params.cursor("since");
    if let Ok(Some(seconds)) = params.seconds("timeout", 60) {
        assert!(seconds <= 60);
    }
    if let Some(Ok(client)) = params.get("client").map(check_client_id) {
        assert!(valid_client_id(client));
    }
    if let Some(transport) = params.get("transport").and_then(Transport::from_name) {
        assert_eq!(Transport::from_path(transport.path()), Some(transport));
    }
});
