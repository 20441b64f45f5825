//! Result JSON as `dpukit report` reads it back (`report::Document::parse`) and renders it.
//! An accepted document renders in every format without a panic and survives a round
//! trip: serialised again, it parses to the same document.

use dpukit_host::report::{self, Document};

use crate::assert_one_line;

pub fn target(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let doc = match Document::parse(text, "fuzz.json") {
        Ok(doc) => doc,
        Err(e) => return assert_one_line("result file", &e.to_string()),
    };
    let json = match &doc {
        Document::Run(r) => serde_json::to_string(r),
        Document::Comparison(c) => serde_json::to_string(c),
        Document::Sweep(s) => serde_json::to_string(s),
    }
    .expect("an accepted document serialises");
    let again = Document::parse(&json, "again.json")
        .unwrap_or_else(|e| panic!("accepted document rejected after a round trip: {e}"));
    assert_eq!(again, doc, "round trip changed the document");
    let docs = std::slice::from_ref(&doc);
    let _ = report::render_tables(docs);
    let _ = report::render_docs_csv(docs);
    let _ = report::render_svg(docs);
    let _ = report::render_html(docs);
}
