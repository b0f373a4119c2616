//! Hostile repositories (issue 18, items 1 and 6): trees `git add` would
//! never make, built object by object with Git's plumbing, must be refused
//! with an error naming the entry, or materialised without a byte written
//! outside the snapshot; blob bombs are refused from the object header with
//! the memory of the process kept small; no staging copy is left behind.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use capstan_integration::{CONFIG_MAP, GitRepo, TestEngine, app, peak_memory};
use capstan_source::{Checkout, Error, Limits, Source, TreeProblem};

const FILE: &str = "100644";
const DIR: &str = "40000";
const LINK: &str = "120000";

/// Writes objects straight into a repository's object store.
struct Objects<'a>(&'a GitRepo);

impl Objects<'_> {
    fn git(&self, args: &[&str], input: &[u8]) -> String {
        let mut child = Command::new("git")
            .args(args)
            .current_dir(self.0.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn blob(&self, content: &[u8]) -> String {
        self.git(&["hash-object", "-w", "--stdin"], content)
    }

    /// A tree object of exactly these entries, in this order, unchecked
    /// (`--literally`: Git's own checks would refuse most of these trees).
    fn tree(&self, entries: &[(&str, &[u8], &str)]) -> String {
        let mut raw = Vec::new();
        for (mode, name, id) in entries {
            raw.extend_from_slice(mode.as_bytes());
            raw.push(b' ');
            raw.extend_from_slice(name);
            raw.push(0);
            raw.extend_from_slice(&hex::decode(id).unwrap());
        }
        self.git(&["hash-object", "-t", "tree", "--literally", "-w", "--stdin"], &raw)
    }

    fn commit(&self, tree: &str) -> String {
        self.0.git(&["commit-tree", tree, "-m", "hostile tree"]).trim().to_owned()
    }

    /// A commit of `entries` beside a valid `deploy/cm.yaml`, in Git's
    /// order (duplicates kept).
    fn commit_with(&self, entries: &[(&str, &[u8], &str)]) -> String {
        let deploy = self.tree(&[(FILE, b"cm.yaml", &self.blob(CONFIG_MAP.as_bytes()))]);
        let mut all: Vec<(&str, &[u8], &str)> = entries.to_vec();
        all.push((DIR, b"deploy", &deploy));
        // Git sorts a tree's name as if it ended in `/`.
        all.sort_by_key(|(mode, name, _)| [*name, if *mode == DIR { b"/" } else { b"" }].concat());
        self.commit(&self.tree(&all))
    }
}

/// A cache directory inside a directory of its own, so that a write beside
/// the cache shows up too.
struct Cache {
    outer: tempfile::TempDir,
}

impl Cache {
    fn new() -> Self {
        let cache = Self { outer: tempfile::TempDir::new().unwrap() };
        std::fs::create_dir(cache.path()).unwrap();
        cache
    }

    fn path(&self) -> PathBuf {
        self.outer.path().join("cache")
    }

    /// Every path under the outer directory, with its kind and size.
    fn listing(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        list(self.outer.path(), &mut out);
        out
    }

    fn checkout(&self, repo: &GitRepo, commit: &str) -> Result<Checkout, Error> {
        self.checkout_with(repo, commit, Limits::default())
    }

    fn checkout_with(&self, repo: &GitRepo, commit: &str, limits: Limits) -> Result<Checkout, Error> {
        let url = repo.path().display().to_string();
        Source::new(self.path()).with_limits(limits).checkout(&url, repo.path(), commit, "deploy")
    }

    fn staging_dirs(&self) -> Vec<PathBuf> {
        self.listing().into_keys().filter(|p| p.to_string_lossy().contains(".staging-")).collect()
    }
}

fn list(dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.path().symlink_metadata().unwrap();
        let kind = if meta.is_dir() {
            list(&entry.path(), out);
            "dir".to_owned()
        } else if meta.is_symlink() {
            format!("link -> {:?}", std::fs::read_link(entry.path()).unwrap())
        } else {
            format!("file of {} bytes", meta.len())
        };
        out.insert(entry.path(), kind);
    }
}

/// The tree reported in issue 18: `dot -> .`, `x -> dot/dot/../..` (inside
/// by its text, the cache directory once resolved), and a directory also
/// named `x` whose file the old code wrote through the link.
#[test]
fn the_reported_tree_is_refused_and_nothing_outside_the_snapshot_changes() {
    let repo = GitRepo::new();
    let objects = Objects(&repo);
    let escaped = objects.tree(&[(FILE, b"escaped.yaml", &objects.blob(b"kind: Escaped\n"))]);
    let commit = objects.commit_with(&[
        (LINK, b"dot", &objects.blob(b".")),
        (LINK, b"x", &objects.blob(b"dot/dot/../..")),
        (DIR, b"x", &escaped),
    ]);
    let cache = Cache::new();
    let before = cache.listing();

    let err = cache.checkout(&repo, &commit).unwrap_err();
    assert!(matches!(&err, Error::TreeEntry { path, problem: TreeProblem::Duplicate, .. } if path == "x"), "{err:?}");
    assert_eq!(err.to_string(), format!("refused the tree of commit {commit}: entry \"x\""));
    assert_eq!(cache.listing(), before, "a refused tree writes nothing at all");
}

/// Without the duplicate the links themselves are checked where they lead:
/// `x` is not materialised, `dot` and a link through it that stays inside are.
#[test]
fn links_are_checked_where_they_resolve_not_by_their_text() {
    let repo = GitRepo::new();
    let objects = Objects(&repo);
    let commit = objects.commit_with(&[
        (LINK, b"a", &objects.blob(b"b")),
        (LINK, b"b", &objects.blob(b"a")),
        (LINK, b"dot", &objects.blob(b".")),
        (LINK, b"in", &objects.blob(b"dot/dot/deploy/cm.yaml")),
        (LINK, b"x", &objects.blob(b"dot/dot/../..")),
        (LINK, b"y", &objects.blob(b"deploy/../dot/..")),
    ]);
    let cache = Cache::new();

    let checkout = cache.checkout(&repo, &commit).unwrap();
    let root = checkout.snapshot.root();
    let mut skipped = checkout.skipped.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            r#""a": symlink to "b" leads outside the repository"#,
            r#""b": symlink to "a" leads outside the repository"#,
            r#""x": symlink to "dot/dot/../.." leads outside the repository"#,
            r#""y": symlink to "deploy/../dot/.." leads outside the repository"#,
        ]
    );
    assert_eq!(std::fs::read_to_string(root.join("in")).unwrap(), CONFIG_MAP);
    assert!(root.join("dot").symlink_metadata().unwrap().is_symlink());
    for name in ["a", "b", "x", "y"] {
        assert!(root.join(name).symlink_metadata().is_err(), "{name} must not exist");
    }
    let outside: Vec<_> = cache.listing().into_keys().filter(|p| !p.starts_with(root)).collect();
    let snapshots = cache.path().join("snapshots");
    assert_eq!(
        outside,
        [cache.path().to_owned(), snapshots.clone(), snapshots.join("v2")],
        "only the snapshot was written"
    );
}

/// Each shape of tree Git itself refuses, refused with the entry named.
macro_rules! refuses {
    ($($test:ident: $name:expr, $mode:expr => $problem:pat,)*) => {$(
        #[test]
        fn $test() {
            let repo = GitRepo::new();
            let objects = Objects(&repo);
            let blob = objects.blob(b"kind: Hostile\n");
            let id = if $mode == DIR { objects.tree(&[(FILE, b"f.yaml", &blob)]) } else { blob };
            let commit = objects.commit_with(&[($mode, $name as &[u8], &id)]);
            let cache = Cache::new();
            let before = cache.listing();
            let err = cache.checkout(&repo, &commit).unwrap_err();
            match &err {
                Error::TreeEntry { path, problem: $problem, .. } => assert_eq!(path, &$name[..], "{err}"),
                other => panic!("expected the entry {:?} refused, got {other:?}", $name),
            }
            let shown = format!("{err}");
            assert!(!shown.chars().any(char::is_control), "control characters escaped: {shown:?}");
            assert_eq!(cache.listing(), before);
        }
    )*};
}

refuses! {
    dot_git_is_refused: b".git", DIR => TreeProblem::InvalidName(_),
    dot_git_in_capitals_is_refused: b".GIT", DIR => TreeProblem::InvalidName(_),
    ntfs_short_name_of_dot_git_is_refused: b"git~1", DIR => TreeProblem::InvalidName(_),
    dot_git_with_trailing_dots_and_spaces_is_refused: b".git. .", DIR => TreeProblem::InvalidName(_),
    dot_git_with_an_hfs_ignorable_code_point_is_refused: ".g\u{200c}it".as_bytes(), DIR => TreeProblem::InvalidName(_),
    dot_gitmodules_as_a_symlink_is_refused: b".gitmodules", LINK => TreeProblem::InvalidName(_),
    an_empty_name_is_refused: b"", FILE => TreeProblem::InvalidName(_),
    dot_dot_is_refused: b"..", DIR => TreeProblem::InvalidName(_),
    dot_is_refused: b".", FILE => TreeProblem::InvalidName(_),
    a_slash_in_a_name_is_refused: b"a/../../b", FILE => TreeProblem::InvalidName(_),
    a_non_utf8_name_is_refused: b"caf\xe9.yaml", FILE => TreeProblem::NotUtf8,
    a_name_longer_than_the_file_system_takes_is_refused: &[b'n'; 256], FILE => TreeProblem::TooLong,
}

#[test]
fn duplicate_entries_are_refused() {
    let repo = GitRepo::new();
    let objects = Objects(&repo);
    let one = objects.blob(b"a: 1\n");
    let commit = objects.commit_with(&[(FILE, b"cm.yaml", &one), (FILE, b"cm.yaml", &objects.blob(b"a: 2\n"))]);
    let err = Cache::new().checkout(&repo, &commit).unwrap_err();
    assert!(
        matches!(&err, Error::TreeEntry { path, problem: TreeProblem::Duplicate, .. } if path == "cm.yaml"),
        "{err:?}"
    );
}

#[test]
fn unsorted_entries_are_refused() {
    let repo = GitRepo::new();
    let objects = Objects(&repo);
    let blob = objects.blob(b"a: 1\n");
    let commit = objects.commit(&objects.tree(&[(FILE, b"b.yaml", &blob), (FILE, b"a.yaml", &blob)]));
    let err = Cache::new().checkout(&repo, &commit).unwrap_err();
    assert!(
        matches!(&err, Error::TreeEntry { path, problem: TreeProblem::Unsorted, .. } if path == "a.yaml"),
        "{err:?}"
    );
}

#[test]
fn non_utf8_names_that_would_become_one_are_refused() {
    let repo = GitRepo::new();
    let objects = Objects(&repo);
    let blob = objects.blob(b"a: 1\n");
    // Both read as "caf\u{FFFD}.yaml" when converted lossily.
    let commit = objects.commit_with(&[(FILE, b"caf\xe9.yaml", &blob), (FILE, b"caf\xff.yaml", &blob)]);
    let err = Cache::new().checkout(&repo, &commit).unwrap_err();
    assert!(matches!(&err, Error::TreeEntry { problem: TreeProblem::NotUtf8, .. }), "{err:?}");
    assert!(err.to_string().contains(r#""caf\xe9.yaml""#), "the raw name, escaped: {err}");
}

#[test]
fn control_characters_in_names_are_escaped_in_errors() {
    let repo = GitRepo::new();
    let objects = Objects(&repo);
    let blob = objects.blob(b"a: 1\n");
    let name = b"\x1b]0;owned\x07\nSynced at";
    let commit = objects.commit_with(&[(FILE, name, &blob), (FILE, name, &blob)]);
    let err = Cache::new().checkout(&repo, &commit).unwrap_err();
    let shown = format!("{err}");
    assert!(matches!(&err, Error::TreeEntry { problem: TreeProblem::Duplicate, .. }), "{err:?}");
    assert!(shown.contains("owned") && shown.contains("Synced at"), "{shown}");
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
}

#[test]
fn trees_nested_too_deep_are_refused() {
    let repo = GitRepo::new();
    let objects = Objects(&repo);
    let mut tree = objects.tree(&[(FILE, b"f.yaml", &objects.blob(b"a: 1\n"))]);
    for _ in 0..capstan_source::MAX_TREE_DEPTH {
        tree = objects.tree(&[(DIR, b"d", &tree)]);
    }
    let commit = objects.commit_with(&[(DIR, b"deep", &tree)]);
    let err = Cache::new().checkout(&repo, &commit).unwrap_err();
    assert!(matches!(&err, Error::TreeEntry { problem: TreeProblem::TooDeep, .. }), "{err:?}");
}

/// An Application over a hostile tree fails with the same error, and the
/// engine's cache (compiled components included) is left as it was.
#[test]
fn an_application_over_a_hostile_tree_fails_with_the_entry_named() {
    let repo = GitRepo::new();
    let objects = Objects(&repo);
    let commit = objects.commit_with(&[(LINK, b"dot", &objects.blob(b".")), (DIR, b"dot", &objects.tree(&[]))]);
    let engine = TestEngine::new();
    let err = engine.engine.render(&app("hostile", &repo, &commit, "deploy", "")).unwrap_err();
    let chain = format!("{err:#}");
    assert!(chain.contains(r#"entry "dot": is listed twice in its tree"#), "{chain}");
}

#[test]
fn a_refused_tree_leaves_no_staging_copy() {
    let repo = GitRepo::new();
    for i in 0..20 {
        repo.write(&format!("deploy/cm-{i}.yaml"), CONFIG_MAP);
    }
    let commit = repo.commit("many files");
    let cache = Cache::new();
    let limits = Limits { max_files: 10, ..Limits::default() };
    let err = cache.checkout_with(&repo, &commit, limits).unwrap_err();
    assert!(err.to_string().contains("more than 10 files and directories"), "{err}");
    assert_eq!(cache.staging_dirs(), Vec::<PathBuf>::new());

    // A failure after writing began (the final place is taken by a file):
    // the guard removes the partial copy too.
    let tree = repo.git(&["rev-parse", &format!("{commit}^{{tree}}")]).trim().to_owned();
    std::fs::create_dir_all(cache.path().join("snapshots/v2")).unwrap();
    std::fs::write(cache.path().join("snapshots/v2").join(&tree), "in the way").unwrap();
    let err = cache.checkout(&repo, &commit).unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
    assert_eq!(cache.staging_dirs(), Vec::<PathBuf>::new());
}

/// A tree bomb: each level names the level below ten times, so 40 small
/// objects expand to 10^4 entries. The entry cap counts them expanded.
#[test]
fn shared_subtrees_count_against_the_entry_cap_as_expanded() {
    let repo = GitRepo::new();
    let objects = Objects(&repo);
    let names: Vec<Vec<u8>> = (0..10).map(|i| format!("n{i}").into_bytes()).collect();
    let blob = objects.blob(b"a: 1\n");
    let mut level = objects.tree(&names.iter().map(|n| (FILE, n.as_slice(), blob.as_str())).collect::<Vec<_>>());
    for _ in 0..3 {
        level = objects.tree(&names.iter().map(|n| (DIR, n.as_slice(), level.as_str())).collect::<Vec<_>>());
    }
    let commit = objects.commit_with(&[(DIR, b"bomb", &level)]);
    let cache = Cache::new();
    let before = cache.listing();
    let err = cache.checkout_with(&repo, &commit, Limits { max_files: 5_000, ..Limits::default() }).unwrap_err();
    assert!(err.to_string().ends_with("too large: more than 5000 files and directories"), "{err}");
    assert_eq!(cache.listing(), before, "refused before anything is written");
}

const BOMB_SIZE: u64 = 256 << 20;

/// A repository whose `main` holds `data/zeros.bin`, a 256 MiB blob of
/// zeros that is a few hundred kB packed; and the size of its `.git`.
fn bomb_repo() -> (GitRepo, u64) {
    let repo = GitRepo::new();
    let objects = Objects(&repo);
    let zeros = repo.path().join("zeros.bin");
    std::fs::File::create(&zeros).unwrap().set_len(BOMB_SIZE).unwrap();
    // Over core.bigFileThreshold, git streams the file into a pack.
    let blob = repo.git(&["-c", "core.bigFileThreshold=1m", "hash-object", "-w", "zeros.bin"]).trim().to_owned();
    std::fs::remove_file(&zeros).unwrap();
    let commit = objects.commit_with(&[(DIR, b"data", &objects.tree(&[(FILE, b"zeros.bin", &blob)]))]);
    repo.git(&["update-ref", "refs/heads/main", &commit]);
    let stored = du(&repo.path().join(".git"));
    assert!(stored < 4 << 20, ".git holds {stored} bytes");
    (repo, stored)
}

/// Checks out `main` of `url` in a child process ([`blob_bomb_child`]);
/// returns the error and by how many bytes the checkout raised the child's
/// peak RSS.
fn checkout_bomb_in_child(url: &str, cache: &Cache) -> (String, usize) {
    let input = format!("{url}\n{}", cache.path().display());
    let stdout = peak_memory::in_child_with("blob_bomb_child", &[("CAPSTAN_BOMB", &input)]);
    let line = |key: &str| {
        let found = stdout.lines().find_map(|l| l.split_once(key).map(|(_, value)| value));
        found.unwrap_or_else(|| panic!("no {key} in:\n{stdout}")).to_owned()
    };
    (line("error: "), line("peak: ").parse().unwrap())
}

/// A blob bomb in a local repository is refused from its header: the peak
/// memory of the process that checks it out stays small.
#[test]
fn a_blob_bomb_is_refused_before_it_is_inflated() {
    let (repo, stored) = bomb_repo();
    let cache = Cache::new();
    let (error, peak) = checkout_bomb_in_child(&repo.path().display().to_string(), &cache);
    assert!(error.contains(&format!("\"data/zeros.bin\" is {BOMB_SIZE} bytes, over the cap")), "{error}");
    println!("the checkout raised the child's peak RSS by {peak} bytes; .git is {stored} bytes");
    assert!(peak < 32 << 20, "the checkout raised peak RSS by {peak} bytes");
    assert_eq!(cache.staging_dirs(), Vec::<PathBuf>::new());
}

/// The same bomb fetched from a remote (`file://`, through the bare cache).
/// gix inflates each object of a received pack whole to index it (without
/// a limit: +275 MB of peak RSS for this bomb, 150 s in a debug build); the
/// cache repository's allocation limit refuses it from the pack entry's
/// header instead.
#[test]
fn a_fetched_blob_bomb_is_refused_before_it_is_inflated() {
    let (repo, stored) = bomb_repo();
    let cache = Cache::new();
    let (error, peak) = checkout_bomb_in_child(&format!("file://{}", repo.path().display()), &cache);
    let cap = Limits::default().max_object_bytes;
    assert!(
        error.starts_with(&format!("refused the received pack: an object in it is over the cap of {cap} bytes")),
        "{error}"
    );
    println!("the fetch and checkout raised the child's peak RSS by {peak} bytes; .git is {stored} bytes");
    assert!(peak < 32 << 20, "the fetch and checkout raised peak RSS by {peak} bytes");
    assert_eq!(cache.staging_dirs(), Vec::<PathBuf>::new());
}

/// Run by the blob bomb tests in a child process, so that its peak RSS is
/// the checkout's alone.
#[test]
#[ignore = "run in a child process by the blob bomb tests"]
fn blob_bomb_child() {
    let args = std::env::var("CAPSTAN_BOMB").expect("run by the blob bomb tests");
    let [url, cache] = args.lines().collect::<Vec<_>>()[..] else { panic!("bad CAPSTAN_BOMB") };
    let (err, peak) =
        peak_memory::of(|| Source::new(cache).checkout(url, Path::new(cache), "main", "deploy").unwrap_err());
    println!("peak: {peak}");
    println!("error: {err}");
}

fn du(dir: &Path) -> u64 {
    let mut out = BTreeMap::new();
    list(dir, &mut out);
    out.keys().filter_map(|p| p.symlink_metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
}
