// Replaced by esbuild with the package.json version (scripts/build.mjs `define`). Absent when
// the sources run compiled by tsc (tests), hence `typeof` checks in version.ts.
declare const __SMC_VERSION__: string;
