/** lib/vm/apt_mirror.ts: the Debian mirror read from apt's sources, in both formats. */
import assert from "node:assert/strict";
import {
  debianMirror,
  parseListFile,
  parseSourcesFile,
  readAptSources,
} from "../../lib/vm/apt_mirror.ts";

const DEB822 = `Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Enabled: no
`;

Deno.test("deb822 stanzas: archive and security mirror, disabled stanzas and comments ignored", () => {
  const sources = parseSourcesFile(DEB822);
  assert.equal(sources.length, 2);
  assert.deepEqual(debianMirror(sources), {
    archive: "http://mirror.example/debian",
    security: "http://mirror.example/debian-security",
  });
});

Deno.test("one-line sources: options in brackets, deb-src and comments", () => {
  const sources = parseListFile(`# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main contrib
deb http://one.example/debian-security bookworm-security main # trailing comment
`);
  assert.deepEqual(debianMirror(sources), {
    archive: "http://one.example/debian",
    security: "http://one.example/debian-security",
  });
});

Deno.test("no source for the release: undefined; no security source: none in the result", () => {
  const other = parseListFile("deb https://packages.example/apt cloud-sdk main\n");
  assert.equal(debianMirror(other), undefined);
  const plain = parseListFile("deb http://m.example/debian bookworm main\n");
  assert.deepEqual(debianMirror(plain), { archive: "http://m.example/debian" });
  // A source for another release does not count.
  assert.equal(debianMirror(parseListFile("deb http://m.example/debian trixie main\n")), undefined);
});

Deno.test("readAptSources reads sources.list and sources.list.d (.list and .sources only)", async () => {
  const root = await Deno.makeTempDir({ prefix: "p4cf-apt-" });
  try {
    await Deno.mkdir(`${root}/sources.list.d`);
    await Deno.writeTextFile(`${root}/sources.list.d/debian.sources`, DEB822);
    await Deno.writeTextFile(
      `${root}/sources.list.d/x.list.disabled`,
      "deb http://wrong.example/debian bookworm main\n",
    );
    const sources = readAptSources(root);
    assert.equal(debianMirror(sources)?.archive, "http://mirror.example/debian");
    assert.ok(!sources.some((s) => s.uris[0].includes("wrong")));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
