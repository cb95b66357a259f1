/**
 * A function's call should say what each argument is: no function in src/ takes more than four
 * positional parameters (a fifth goes into an object with named fields), and none takes a
 * boolean that picks what it does (two functions, or a named option, say it better). Read from
 * the sources with the TypeScript parser, so a function added later is held to it too.
 */
import { describe, expect, it } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript5";

const ROOT = join(import.meta.dir, "../..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") && !path.endsWith(".generated.ts") ? [path] : [];
  });
}

type FunctionLike = ts.FunctionDeclaration | ts.MethodDeclaration | ts.ArrowFunction | ts.FunctionExpression | ts.ConstructorDeclaration;

function isFunctionLike(node: ts.Node): node is FunctionLike {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node) ||
    ts.isConstructorDeclaration(node)
  );
}

function nameOf(node: FunctionLike): string {
  if (ts.isConstructorDeclaration(node)) return "constructor";
  if (node.name !== undefined) return node.name.getText();
  const parent = node.parent;
  return ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) ? parent.name.getText() : "(anonymous)";
}

const isBooleanParameter = (parameter: ts.ParameterDeclaration) =>
  parameter.type?.kind === ts.SyntaxKind.BooleanKeyword ||
  parameter.initializer?.kind === ts.SyntaxKind.TrueKeyword ||
  parameter.initializer?.kind === ts.SyntaxKind.FalseKeyword;

/** Every function of src/ that breaks either rule, as "file name: what". */
function offenders(): string[] {
  const found: string[] = [];
  for (const file of sourceFiles(join(ROOT, "src"))) {
    const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const where = relative(ROOT, file);
    const visit = (node: ts.Node): void => {
      if (isFunctionLike(node)) {
        // A callback's shape is its caller's (Elysia's hooks, Array.prototype's), not ours to choose.
        const isCallback = ts.isCallExpression(node.parent);
        if (!isCallback && node.parameters.length > 4) found.push(`${where} ${nameOf(node)}: ${node.parameters.length} parameters`);
        for (const parameter of node.parameters)
          if (!isCallback && isBooleanParameter(parameter)) found.push(`${where} ${nameOf(node)}: boolean ${parameter.name.getText()}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found.sort();
}

describe("function parameters in src/", () => {
  it("none takes more than four positional parameters or a boolean that picks behaviour", () => {
    expect(offenders()).toEqual([]);
  });
});
