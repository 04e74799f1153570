//! Decoding HPACK's Huffman code (RFC 7541 §5.2, Appendix B) through a binary tree built once
//! from the code table: followed bit by bit, a leaf is a symbol.

use std::sync::OnceLock;

use super::huffman_codes::CODES;

/// A node's two children; a child is a node index, or a symbol marked by [`LEAF`].
type Node = [u16; 2];
const LEAF: u16 = 0x8000;
/// No child yet (only while building; a complete code has none left).
const EMPTY: u16 = 0;

fn tree() -> &'static [Node] {
    static TREE: OnceLock<Vec<Node>> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut nodes: Vec<Node> = vec![[EMPTY; 2]];
        for (symbol, &(bits, code)) in CODES.iter().enumerate() {
            let mut node = 0usize;
            for i in (0..bits).rev() {
                let bit = ((code >> i) & 1) as usize;
                if i == 0 {
                    nodes[node][bit] = LEAF | symbol as u16;
                } else {
                    if nodes[node][bit] == EMPTY {
                        nodes.push([EMPTY; 2]);
                        nodes[node][bit] = (nodes.len() - 1) as u16;
                    }
                    node = usize::from(nodes[node][bit]);
                }
            }
        }
        nodes
    })
}

/// The decoded bytes; `None` for a string with EOS inside or padding that is not a short run of
/// ones (both errors under RFC 7541 §5.2).
pub fn decode(coded: &[u8]) -> Option<Vec<u8>> {
    let tree = tree();
    let mut out = Vec::with_capacity(coded.len() * 8 / 5);
    let (mut node, mut depth, mut all_ones) = (0usize, 0u32, true);
    for &byte in coded {
        for i in (0..8).rev() {
            let bit = usize::from((byte >> i) & 1);
            let next = tree[node][bit];
            all_ones &= bit == 1;
            depth += 1;
            if next & LEAF != 0 {
                let symbol = next & !LEAF;
                if symbol == 256 {
                    return None;
                }
                out.push(symbol as u8);
                (node, depth, all_ones) = (0, 0, true);
            } else {
                node = usize::from(next);
            }
        }
    }
    (depth < 8 && all_ones).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7541 C.4.1: "www.example.com".
    #[test]
    fn decodes_the_rfc_example() {
        let coded = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(decode(&coded).as_deref(), Some(&b"www.example.com"[..]));
    }

    #[test]
    fn bad_padding_is_refused() {
        // 'a' is 00011 (5 bits); padding with zeros is not allowed.
        assert_eq!(decode(&[0b0001_1000]), None);
        assert_eq!(decode(&[0b0001_1111]).as_deref(), Some(&b"a"[..]));
        // A whole byte of padding is too long.
        assert_eq!(decode(&[0b0001_1111, 0xFF]), None);
    }
}
