/**
 * docs.ts embeds Swagger UI's files with `import path from "swagger-ui-dist/…" with { type: "file" }`:
 * under Bun's file loader such an import is the file's path (inside the executable once compiled),
 * never the module itself.
 */
declare module "swagger-ui-dist/*" {
  const path: string;
  export default path;
}
