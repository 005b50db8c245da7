//! The mock's config.xml reader never panics on arbitrary input.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    #[test]
    fn config_xml_parser_never_panics(text in "(<project>|</project>|<flow-definition>|<script>|</script>|<command>|</command>|sleep |exit |error|&amp;|&bogus;|<!\\[CDATA\\[|\\]\\]>|<|>|/|[a-z0-9 \n])*") {
        let _ = mock_jenkins::config::parse(&text);
    }

    #[test]
    fn tree_parser_never_panics(text in "[a-zA-Z_*\\[\\]{},0-9]{0,40}") {
        let _ = mock_jenkins::tree::Tree::parse(&text);
    }
}
