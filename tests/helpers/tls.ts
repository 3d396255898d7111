/** A throwaway CA and a server certificate it signed, made with openssl for a test. */

/** PEM texts and file paths of a test CA and of a certificate for 127.0.0.1 and localhost. */
export interface TestCa {
  caCert: string;
  certFile: string;
  keyFile: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (out.code !== 0) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/**
 * Makes the CA and the server certificate in `dir`; null when openssl is not installed.
 * Keys are P-256, valid for a day.
 */
export async function makeTestCa(dir: string): Promise<TestCa | null> {
  try {
    await openssl(dir, ["version"]);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(dir, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    "/CN=session-buddy test CA",
  ]);
  await openssl(dir, [
    "req",
    ...ec,
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=127.0.0.1",
  ]);
  await Deno.writeTextFile(`${dir}/san.ext`, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "1",
    "-extfile",
    "san.ext",
  ]);
  return {
    caCert: await Deno.readTextFile(`${dir}/ca.crt`),
    certFile: `${dir}/server.crt`,
    keyFile: `${dir}/server.key`,
  };
}

/**
 * Signs another server certificate with the CA that {@linkcode makeTestCa} made in `dir`, for
 * exactly `names` (DNS names; IP addresses as `IP:...`): `dir/<file>.crt` and `dir/<file>.key`.
 */
export async function signServerCert(
  dir: string,
  file: string,
  names: string[],
): Promise<{ certFile: string; keyFile: string }> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(dir, [
    "req",
    ...ec,
    "-keyout",
    `${file}.key`,
    "-out",
    `${file}.csr`,
    "-subj",
    `/CN=${names[0]!.replace(/^IP:/, "")}`,
  ]);
  const san = names.map((n) => n.startsWith("IP:") ? n : `DNS:${n}`).join(",");
  await Deno.writeTextFile(`${dir}/${file}.ext`, `subjectAltName=${san}\n`);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${file}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    `${file}.crt`,
    "-days",
    "1",
    "-extfile",
    `${file}.ext`,
  ]);
  return { certFile: `${dir}/${file}.crt`, keyFile: `${dir}/${file}.key` };
}
