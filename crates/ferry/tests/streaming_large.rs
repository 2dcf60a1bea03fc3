//! Large bodies go through Ferry in both directions without being held in memory: 100 MB up (read
//! whole before the app gets it, into an unlinked temp file beyond `client_body_buffer_size`)
//! and 100 MB down arrive intact while Ferry's peak resident memory stays under 64 MB.

use std::time::Duration;

use ferry_test_support::body;
use ferry_test_support::client::Client;
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::{apps, bounded, require_program, trace_init, Ferry};

const LARGE: u64 = 100 * 1024 * 1024;
const MAX_HWM_KIB: u64 = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_upload_and_download_stream_with_flat_memory() {
    trace_init();
    require_program!("node");
    bounded(Duration::from_secs(240), async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();
        let expected = body::pattern_sha256(LARGE);

        let reply = client
            .upload(
                Method::POST,
                &ferry.url_for("/upload"),
                body::pattern(LARGE, false),
            )
            .await
            .expect("100 MB upload");
        assert_eq!(reply.status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(json["bytes"], LARGE, "{json}");
        assert_eq!(json["sha256"], expected.as_str(), "{json}");

        let url = ferry.url_for(&format!("/download?bytes={LARGE}"));
        let download = client.download(&url).await.expect("100 MB download");
        assert_eq!(download.status, StatusCode::OK);
        assert_eq!(download.len, LARGE);
        assert_eq!(download.sha256, expected);

        let chunked_len = 8 * 1024 * 1024 + 5;
        let url = ferry.url_for(&format!("/download?bytes={chunked_len}&chunked=1"));
        let download = client.download(&url).await.expect("chunked download");
        assert_eq!(download.status, StatusCode::OK);
        assert_eq!(download.len, chunked_len);
        assert_eq!(download.sha256, body::pattern_sha256(chunked_len));

        let hwm = ferry.vm_hwm_kib().expect("ferry's VmHWM");
        eprintln!("ferry VmHWM after streaming: {hwm} KiB");
        assert!(
            hwm < MAX_HWM_KIB,
            "ferry's peak RSS is {hwm} KiB after streaming 2 x 100 MB; bodies are buffered?"
        );
    })
    .await;
}
