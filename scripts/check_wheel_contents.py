"""The wheel holds what an installed spacy-elmo needs: both packaged biLMs, py.typed, the license."""
import sys
import zipfile

REQUIRED = [
    "spacy_elmo/py.typed",
    *(f"spacy_elmo/models/{name}/{file}" for name in ("en_elmo_small", "en_elmo_medium")
      for file in ("options.json", "weights.safetensors", "vocab.txt", "MODEL_CARD.md")),
]


def main(wheel: str) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [path for path in REQUIRED if path not in names]
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in names):
        missing.append("*.dist-info/licenses/LICENSE")
    if missing:
        sys.exit(f"{wheel} lacks {', '.join(missing)}")
    print(f"{wheel}: {len(names)} files, both packaged biLMs, py.typed and LICENSE inside")


if __name__ == "__main__":
    main(sys.argv[1])
