#!/usr/bin/env bash
# Publish spacy-elmo to PyPI in one command, from a clean checkout of the commit to release:
#   scripts/release.sh                 # upload to PyPI
#   scripts/release.sh --repository testpypi   # or any repository named in ~/.pypirc
# Credentials are twine's: TWINE_USERNAME=__token__ and TWINE_PASSWORD=<API token>, or ~/.pypirc.
# It refuses a dirty tree or a version without a CHANGELOG.md entry, runs the same build and checks as
# CI (scripts/check_dist.sh: build, twine check, the wheel in a fresh venv with a smoke test), uploads
# exactly the files it checked, and tags the commit v<version>.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(python -c "import ast, pathlib; t = ast.parse(pathlib.Path('spacy_elmo/__init__.py').read_text()); print(next(n.value.value for n in t.body if isinstance(n, ast.Assign) and getattr(n.targets[0], 'id', '') == '__version__'))")
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "release: the working tree has uncommitted changes; commit or stash them first" >&2; exit 1
fi
if ! grep -q "^## ${VERSION}\b" CHANGELOG.md; then
    echo "release: CHANGELOG.md has no '## ${VERSION}' section; describe the release there first" >&2; exit 1
fi
if git rev-parse -q --verify "refs/tags/v${VERSION}" >/dev/null; then
    echo "release: tag v${VERSION} exists already; bump spacy_elmo.__version__" >&2; exit 1
fi
bash scripts/check_dist.sh dist
python -m twine upload --non-interactive "$@" dist/spacy_elmo-"${VERSION}"*
git tag -a "v${VERSION}" -m "spacy-elmo ${VERSION}"
echo "released spacy-elmo ${VERSION}; push the tag: git push origin v${VERSION}"
