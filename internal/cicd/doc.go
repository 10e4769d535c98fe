// Package cicd holds no code that the product runs. Its tests check the
// repository's automation against its documentation, so that neither can
// drift from the other:
//
//   - the test workflow and .ci/run run the README's test command, the
//     deploy workflow runs `make deploy`, and the release workflow
//     `make release` (drift_test.go), with every action pinned to a commit
//     and each job holding only the permissions it needs;
//   - `make release` builds, for every platform, a static iris binary with
//     the web app embedded, its SHA-256 sum, and the stamped version that
//     `iris version` prints (release_test.go).
//
// actionlint, which checks the workflows' syntax, expressions and shell,
// runs from `make actionlint`, not from here.
package cicd
