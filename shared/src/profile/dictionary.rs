//! The symbols of one upload, interned once: functions, mappings, frames and sample links,
//! shared by every profile the upload becomes.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use crate::FastMap;

/// Cuts `s` to its last `max` bytes (at a character boundary), as the reference server cuts
/// symbols; tells whether it did.
fn cut_symbol(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s.drain(..start);
    true
}

/// A function, as pprof describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Function {
    /// The name shown in flame graphs.
    pub name: String,
    /// The mangled or system name (may be empty).
    pub system_name: String,
    /// The source file (may be empty).
    pub filename: String,
    /// The line the function starts at (0 if unknown).
    pub start_line: i64,
}

/// A binary or library mapped into the profiled process, as pprof describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mapping {
    /// Start of the mapped address range.
    pub memory_start: u64,
    /// End of the mapped address range.
    pub memory_limit: u64,
    /// Offset in the file of the range's start.
    pub file_offset: u64,
    /// The object file's path.
    pub filename: String,
    /// The object file's build id.
    pub build_id: String,
    /// pprof's `has_functions`, `has_filenames`, `has_line_numbers`, `has_inline_frames`
    /// as bits 0–3.
    pub flags: u32,
}

/// One frame of a stack: a function and, when the profiler says, where in the code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Frame {
    /// Index into [`Dictionary::functions`].
    pub function: u32,
    /// Source line (0 if unknown).
    pub line: i64,
    /// Index into [`Dictionary::mappings`], if the frame's location has a mapping.
    pub mapping: Option<u32>,
    /// Instruction address of the frame's location (0 if unknown).
    pub address: u64,
    /// True for a function inlined into the frame before it (its caller): both came from one
    /// pprof location, which pprof export rebuilds from this.
    pub inlined: bool,
}

/// Identifiers a sample carries that are not series labels (pprof labels `span_id`,
/// `trace_id`, `profile_id`); empty when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Link {
    /// The tracing span the sample was taken in.
    pub span_id: String,
    /// The trace of that span.
    pub trace_id: String,
    /// The profile the sample came from.
    pub profile_id: String,
}

impl Link {
    /// Tells whether no identifier is set.
    pub fn is_empty(&self) -> bool {
        self.span_id.is_empty() && self.trace_id.is_empty() && self.profile_id.is_empty()
    }
}

/// A stack of frames, root first: a node of its dictionary's trie of stacks, where each node
/// is a frame below its parent's stack ([`Dictionary::push`]). The samples of an upload that
/// share a stack, or a prefix, share its nodes: a stack is converted once, however many
/// samples and sample types refer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stack(u32);

impl Stack {
    /// The stack of no frames.
    pub const EMPTY: Stack = Stack(u32::MAX);

    /// Tells whether it has no frames.
    pub fn is_empty(self) -> bool {
        self == Stack::EMPTY
    }

    /// Its node's index in the dictionary's trie, `None` for the empty stack.
    pub fn index(self) -> Option<usize> {
        (!self.is_empty()).then_some(self.0 as usize)
    }

    /// The slot of its children in a per-parent table: the empty stack first.
    #[inline]
    pub(crate) fn slot(self) -> usize {
        self.0.wrapping_add(1) as usize
    }
}

/// A node of a dictionary's trie of stacks: a frame below a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StackNode {
    parent: Stack,
    frame: u32,
}

/// The symbols of one upload, deduplicated: functions, mappings, frames, stacks and sample
/// links. Samples refer to them by index, so the profiles of one pprof share one dictionary.
#[derive(Debug, Clone)]
pub struct Dictionary {
    /// Functions.
    pub functions: Vec<Function>,
    /// Mappings.
    pub mappings: Vec<Mapping>,
    /// Frames.
    pub frames: Vec<Frame>,
    /// Sample links; index 0 is the empty link.
    pub links: Vec<Link>,
    /// The trie of stacks; a parent precedes its children.
    stacks: Vec<StackNode>,
    function_ids: Ids,
    mapping_ids: Ids,
    frame_ids: Ids,
    link_ids: Ids,
    /// Trie edges: (parent, frame) → child. The keys are kept here, not looked up in
    /// `stacks` as [`Ids`] does: a walk probes it for most frames, and one more load per probe
    /// costs more than the 8 bytes.
    stack_ids: FastMap<(Stack, u32), Stack>,
}

/// Dictionaries are equal when their tables are: the ids follow from them.
impl PartialEq for Dictionary {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.functions,
            &self.mappings,
            &self.frames,
            &self.links,
            &self.stacks,
        ) == (
            &other.functions,
            &other.mappings,
            &other.frames,
            &other.links,
            &other.stacks,
        )
    }
}

impl Eq for Dictionary {}

impl Default for Dictionary {
    fn default() -> Self {
        Dictionary {
            functions: Vec::new(),
            mappings: Vec::new(),
            frames: Vec::new(),
            links: vec![Link::default()],
            stacks: Vec::new(),
            function_ids: Ids::default(),
            mapping_ids: Ids::default(),
            frame_ids: Ids::default(),
            link_ids: Ids::of(&[Link::default()]),
            stack_ids: FastMap::default(),
        }
    }
}

/// The ids of a deduplicated table's items, found through the items' hashes in the table
/// itself, so that no item is kept twice (a map from item to id holds a copy of each: three
/// strings of a function).
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Ids {
    /// The ids of `items`, the first of equal ones.
    pub(crate) fn of<T: Eq + Hash>(items: &[T]) -> Self {
        let mut ids = Ids::default();
        for (i, item) in items.iter().enumerate() {
            let hash = ids.hasher.hash_one(item);
            if ids
                .table
                .find(hash, |&id| items[id as usize] == *item)
                .is_none()
            {
                let hasher = &ids.hasher;
                ids.table
                    .insert_unique(hash, i as u32, |&id| hasher.hash_one(&items[id as usize]));
            }
        }
        ids
    }

    /// The id of `item` in `items`, added if new.
    pub(crate) fn intern<T: Eq + Hash>(&mut self, items: &mut Vec<T>, item: T) -> u32 {
        let hash = self.hasher.hash_one(&item);
        match self.table.find(hash, |&id| items[id as usize] == item) {
            Some(id) => *id,
            None => self.add(items, hash, item),
        }
    }

    /// The id in `items` of the item `key` stands for, `make` making it if it is new (so
    /// that a borrowed key is copied only then).
    pub(crate) fn intern_with<T, Q>(
        &mut self,
        items: &mut Vec<T>,
        key: &Q,
        make: impl FnOnce(&Q) -> T,
    ) -> u32
    where
        T: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        match self
            .table
            .find(hash, |&id| items[id as usize].borrow() == key)
        {
            Some(id) => *id,
            None => self.add(items, hash, make(key)),
        }
    }

    /// Adds a new item whose hash (of what it borrows as, for [`Ids::intern_with`]) is `hash`.
    fn add<T, Q>(&mut self, items: &mut Vec<T>, hash: u64, item: T) -> u32
    where
        T: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        let id = items.len() as u32;
        items.push(item);
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, id, |&id| hasher.hash_one(items[id as usize].borrow()));
        id
    }
}

impl Dictionary {
    /// Returns the id of a function, adding it if new.
    pub fn function(&mut self, f: Function) -> u32 {
        self.function_ids.intern(&mut self.functions, f)
    }

    /// Returns the id of a mapping, adding it if new.
    pub fn mapping(&mut self, m: Mapping) -> u32 {
        self.mapping_ids.intern(&mut self.mappings, m)
    }

    /// The length in bytes of the longest symbol: function, system and file names, and
    /// mappings' files and build ids.
    pub fn longest_symbol(&self) -> usize {
        let functions = self
            .functions
            .iter()
            .flat_map(|f| [&f.name, &f.system_name, &f.filename]);
        let mappings = self
            .mappings
            .iter()
            .flat_map(|m| [&m.filename, &m.build_id]);
        functions
            .chain(mappings)
            .map(String::len)
            .max()
            .unwrap_or(0)
    }

    /// Cuts every symbol longer than `max` bytes to its last `max` bytes (at a character
    /// boundary), as the reference server does. Symbols that become equal keep their ids.
    pub fn cut_symbols(&mut self, max: usize) {
        let mut cut = false;
        for f in &mut self.functions {
            for s in [&mut f.name, &mut f.system_name, &mut f.filename] {
                cut |= cut_symbol(s, max);
            }
        }
        for m in &mut self.mappings {
            for s in [&mut m.filename, &mut m.build_id] {
                cut |= cut_symbol(s, max);
            }
        }
        if cut {
            // Interning after this finds the first of equal symbols.
            self.function_ids = Ids::of(&self.functions);
            self.mapping_ids = Ids::of(&self.mappings);
        }
    }

    /// Returns the id of a frame, adding it if new. `frame.function` (and `mapping`) must
    /// be ids of this dictionary.
    pub fn frame(&mut self, frame: Frame) -> u32 {
        self.frame_ids.intern(&mut self.frames, frame)
    }

    /// Returns the id of a frame that is just a function name.
    pub fn named_frame(&mut self, name: &str) -> u32 {
        let function = self.function(Function {
            name: name.to_string(),
            ..Function::default()
        });
        self.frame(Frame {
            function,
            ..Frame::default()
        })
    }

    /// Adds the frames of one location and returns their ids, root first. `lines` come
    /// innermost first, as pprof and OTLP list them; lines without a function name are
    /// skipped, and a location with none shows as `unknown`. pprof and OTLP share this rule,
    /// so the same stack reads the same from either.
    pub fn location(
        &mut self,
        mapping: Option<u32>,
        address: u64,
        lines: impl IntoIterator<Item = (Function, i64)>,
    ) -> Vec<u32> {
        let named: Vec<(Function, i64)> = lines
            .into_iter()
            .filter(|(f, _)| !f.name.is_empty())
            .collect();
        // Functions are added outermost first, as the frames are.
        let lines: Vec<(u32, i64)> = named
            .into_iter()
            .rev()
            .map(|(f, line)| (self.function(f), line))
            .collect();
        let mut out = Vec::with_capacity(lines.len().max(1));
        self.location_frames(mapping, address, lines.into_iter(), &mut out);
        out
    }

    /// [`Dictionary::location`] for functions already added: `lines` are (function id, line)
    /// outermost first, without the unnamed ones. Appends the frame ids to `out`.
    pub fn location_frames(
        &mut self,
        mapping: Option<u32>,
        address: u64,
        lines: impl ExactSizeIterator<Item = (u32, i64)>,
        out: &mut Vec<u32>,
    ) {
        if lines.len() == 0 {
            let function = self.function(Function {
                name: "unknown".into(),
                ..Function::default()
            });
            out.push(self.frame(Frame {
                function,
                line: 0,
                mapping,
                address,
                inlined: false,
            }));
            return;
        }
        for (i, (function, line)) in lines.enumerate() {
            out.push(self.frame(Frame {
                function,
                line,
                mapping,
                address,
                inlined: i > 0,
            }));
        }
    }

    /// Returns the id of a sample link (0 for the empty link).
    pub fn link(&mut self, link: Link) -> u32 {
        if link.is_empty() {
            return 0;
        }
        self.link_ids.intern(&mut self.links, link)
    }

    /// The stack of `frame` below `parent`, added if new. `frame` must be an id of this
    /// dictionary. (Walks over pprof skip most calls: [`crate::wire::pprof::Symbols::walk`].)
    #[inline]
    pub fn push(&mut self, parent: Stack, frame: u32) -> Stack {
        *self.stack_ids.entry((parent, frame)).or_insert_with(|| {
            self.stacks.push(StackNode { parent, frame });
            Stack(self.stacks.len() as u32 - 1)
        })
    }

    /// The stack of `frames` (ids of this dictionary, root first), added if new.
    pub fn stack(&mut self, frames: impl IntoIterator<Item = u32>) -> Stack {
        frames
            .into_iter()
            .fold(Stack::EMPTY, |parent, frame| self.push(parent, frame))
    }

    /// A stack's parent and last frame, `None` for the empty stack (or one not of this
    /// dictionary).
    pub fn split(&self, stack: Stack) -> Option<(Stack, u32)> {
        let node = self.stacks.get(stack.index()?)?;
        Some((node.parent, node.frame))
    }

    /// A stack's frames, root first.
    pub fn frames_of(&self, stack: Stack) -> Vec<u32> {
        let mut frames = Vec::new();
        let mut at = stack;
        while let Some((parent, frame)) = self.split(at) {
            frames.push(frame);
            at = parent;
        }
        frames.reverse();
        frames
    }

    /// How many stacks (trie nodes) there are; a stack's index is below it.
    pub fn stack_count(&self) -> usize {
        self.stacks.len()
    }

    /// Every stack's depth (its number of frames), by index.
    pub fn stack_depths(&self) -> Vec<u32> {
        let mut depths: Vec<u32> = Vec::with_capacity(self.stacks.len());
        for node in &self.stacks {
            // A parent precedes its children.
            let above = node.parent.index().and_then(|p| depths.get(p)).copied();
            let above = above.unwrap_or(0);
            depths.push(above + 1);
        }
        depths
    }

    /// The stack `up` frames above `stack` (towards the root).
    pub fn ancestor(&self, stack: Stack, up: u32) -> Stack {
        (0..up).fold(stack, |at, _| {
            self.split(at).map_or(at, |(parent, _)| parent)
        })
    }

    /// Returns the function name of a frame.
    pub fn frame_name(&self, frame: u32) -> &str {
        self.frames
            .get(frame as usize)
            .and_then(|f| self.functions.get(f.function as usize))
            .map_or("", |f| f.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_found_as_their_table_grows_whether_interned_by_value_or_by_borrow() {
        let names: Vec<String> = (0..5000).map(|i| format!("function {i}")).collect();
        let (mut by_borrow, mut strings) = (Ids::default(), Vec::new());
        let (mut by_value, mut functions) = (Ids::default(), Vec::new());
        let function = |name: &str| Function {
            name: name.to_string(),
            ..Function::default()
        };
        // Twice over: the second pass finds every id the first added, through many resizes.
        for _ in 0..2 {
            for (i, name) in names.iter().enumerate() {
                let id = by_borrow.intern_with(&mut strings, name.as_str(), str::to_string);
                assert_eq!(id as usize, i);
                assert_eq!(by_value.intern(&mut functions, function(name)) as usize, i);
            }
        }
        assert_eq!((strings.len(), functions.len()), (5000, 5000));
        // Rebuilt from a table with repeats: the first of equal items.
        let repeated = [function("a"), function("b"), function("a")];
        let mut items = repeated.to_vec();
        let mut ids = Ids::of(&items);
        assert_eq!(ids.intern(&mut items, function("a")), 0);
        assert_eq!(ids.intern(&mut items, function("c")), 3);
    }

    #[test]
    fn a_stack_is_one_node_per_prefix_whichever_way_it_is_walked() {
        let mut dict = Dictionary::default();
        let [a, b, c] = ["a", "b", "c"].map(|name| dict.named_frame(name));
        let abc = dict.stack([a, b, c]);
        let ab = dict.stack([a, b]);
        let ac = dict.stack([a, c]);
        let mut abc_again = Stack::EMPTY;
        for frame in [a, b, c] {
            abc_again = dict.push(abc_again, frame);
        }
        assert_eq!(abc, abc_again);
        assert_eq!(dict.stack_count(), 4, "a, a;b, a;b;c, a;c");
        assert_eq!(dict.frames_of(abc), [a, b, c]);
        assert_eq!(dict.frames_of(ac), [a, c]);
        assert_eq!(dict.split(abc), Some((ab, c)));
        assert_eq!(dict.split(Stack::EMPTY), None);
        assert!(dict.frames_of(Stack::EMPTY).is_empty());
        let depths = dict.stack_depths();
        assert_eq!(depths[abc.index().unwrap()], 3);
        assert_eq!(depths[ac.index().unwrap()], 2);
        assert_eq!(dict.ancestor(abc, 1), ab);
        assert_eq!(dict.ancestor(abc, 3), Stack::EMPTY);
        assert_eq!(dict.ancestor(abc, 7), Stack::EMPTY);
        // Equal tables, equal dictionaries; another stack makes them differ.
        let mut other = dict.clone();
        assert_eq!(other, dict);
        other.stack([b]);
        assert_ne!(other, dict);
    }
}
