"""The `authd` command: `main` (the app: `serve`, `init`, and the groups it registers),
`common` (what every group shares: the data-dir option, opening the state, failing,
auditing), `registry` (`rp`, `identity`, `vid`), `keys` (`keys`, `token verify`), `faces`
(`faces`, `enroll-batch`) and `audit` (`audit verify|link|show`). Groups import `common`,
never `main`.
"""
