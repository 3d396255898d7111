/** PostgreSQL URLs as SESSION_BUDDY_DB takes them (SPEC 8.3), and how they may be shown. */
import assert from "node:assert/strict";
import {
  describePostgres,
  isPostgresUrl,
  netAddress,
  parsePostgresUrl,
  withPassword,
} from "../../../../src/store/postgres/url.ts";

Deno.test("postgres:// and postgresql:// URLs, with the defaults of a loopback host", () => {
  for (const scheme of ["postgres", "postgresql", "POSTGRES"]) {
    assert.ok(isPostgresUrl(`${scheme}://u@h/db`));
  }
  assert.ok(!isPostgresUrl("/var/lib/s.kv") && !isPostgresUrl("https://api.deno.com/x"));
  assert.deepEqual(parsePostgresUrl("postgres://sb:pw@127.0.0.1:55432/sessions"), {
    host: "127.0.0.1",
    port: 55432,
    socket: null,
    user: "sb",
    password: "pw",
    database: "sessions",
    sslmode: "disable",
  });
  assert.equal(parsePostgresUrl("postgresql://sb@localhost/s").port, 5432);
});

Deno.test("a remote host is verify-full unless sslmode says otherwise", () => {
  assert.equal(parsePostgresUrl("postgres://sb@db.example.com/s").sslmode, "verify-full");
  assert.equal(
    parsePostgresUrl("postgres://sb@db.example.com/s?sslmode=require").sslmode,
    "require",
  );
  assert.equal(parsePostgresUrl("postgres://sb@[::1]:5433/s").host, "::1");
  assert.throws(
    () => parsePostgresUrl("postgres://sb@h/s?sslmode=prefer"),
    /unsupported sslmode 'prefer'/,
  );
});

Deno.test("a Unix socket through ?host=, and the net grant each target needs", () => {
  const socket = parsePostgresUrl("postgres://postgres@/sessions?host=/run/postgresql");
  assert.equal(socket.socket, "/run/postgresql/.s.PGSQL.5432");
  assert.equal(socket.host, null);
  assert.equal(netAddress(socket), "unix:/run/postgresql/.s.PGSQL.5432");
  assert.equal(
    netAddress(parsePostgresUrl("postgres://u@10.0.0.5:6432/s?sslmode=disable")),
    "10.0.0.5:6432",
  );
  assert.equal(netAddress(parsePostgresUrl("postgres://u@[::1]:6432/s")), "[::1]:6432");
  assert.throws(() => parsePostgresUrl("postgres://u@/s?host=run/pg"), /absolute path/);
  assert.throws(
    () => parsePostgresUrl("postgres://u@/s?host=/run/pg&sslmode=require"),
    /takes no TLS/,
  );
});

Deno.test("the password: from the URL, else from SESSION_BUDDY_DB_PASSWORD; %-escapes decoded", () => {
  assert.equal(withPassword(parsePostgresUrl("postgres://u:p%40ss@h/s"), "env").password, "p@ss");
  assert.equal(withPassword(parsePostgresUrl("postgres://u@h/s"), "from-env").password, "from-env");
  assert.equal(parsePostgresUrl("postgres://u@h/s").password, null);
});

Deno.test("bad URLs are refused naming what is wrong, never quoting the password", () => {
  const cases: [string, RegExp][] = [
    ["postgres://h/s", /names no user/],
    ["postgres://u:Secret-pw-123@h/", /names no database/],
    ["postgres://u:Secret-pw-123@h/s?timeout=5", /unknown PostgreSQL URL parameter 'timeout'/],
    ["postgres://u:%zz@h/s", /malformed %-escape in its password/],
    ["postgres://u:Secret-pw-123@h/s%zz", /malformed %-escape in its database name/],
    ["postgres://u%zz:Secret-pw-123@h/s", /malformed %-escape in its user/],
    ["postgres://u:Secret-pw-123@h:0/s", /port must be 1-65535/],
  ];
  for (const [url, pattern] of cases) {
    assert.throws(() => parsePostgresUrl(url), (error: Error) => {
      assert.match(error.message, pattern);
      assert.ok(!error.message.includes("Secret-pw-123"));
      return true;
    });
  }
});

Deno.test("describePostgres shows the user, the place and the database, never the password", () => {
  assert.equal(
    describePostgres(
      parsePostgresUrl("postgres://sb:Secret-pw-123@db.example.com:6432/sessions?sslmode=require"),
    ),
    "postgres://sb@db.example.com:6432/sessions",
  );
  assert.equal(
    describePostgres(parsePostgresUrl("postgres://sb@/s?host=/run/postgresql")),
    "postgres://sb@/run/postgresql/.s.PGSQL.5432/s",
  );
  assert.ok(
    !describePostgres(parsePostgresUrl("postgres://sb:Secret-pw-123@h/s")).includes("Secret"),
  );
});
