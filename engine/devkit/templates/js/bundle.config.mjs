// Merged into jco's Rolldown bundle: the WIT imports are bound by jco, not files to bundle.
export default { external: [/^capstan:/, /^wasi:/] };
