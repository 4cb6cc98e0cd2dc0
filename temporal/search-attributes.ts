// Makes sure our custom search attributes exist in our namespace. `start-dev --search-attribute`
// registers them only while it creates a namespace, so a namespace kept in an older SQLite file
// lacks any attribute added since; the OperatorService adds those.
import type { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';

/** Returns the names that had to be added. */
export async function ensureSearchAttributes(
  connection: Connection,
  namespace: string,
  wanted: Readonly<Record<string, SearchAttributeType>>,
): Promise<string[]> {
  const missing = await missingSearchAttributes(connection, namespace, wanted);
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((name) => [name, encode(wanted[name])])),
  });
  const still = await missingSearchAttributes(connection, namespace, wanted);
  if (still.length > 0) {
    throw new Error(
      `search attributes ${still.join(', ')} are still missing in namespace ${namespace} after adding them`,
    );
  }
  return missing;
}

/** Names in `wanted` that the namespace lacks; throws when one exists with another type. */
export async function missingSearchAttributes(
  connection: Connection,
  namespace: string,
  wanted: Readonly<Record<string, SearchAttributeType>>,
): Promise<string[]> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const have = customAttributes ?? {};
  const missing: string[] = [];
  for (const [name, type] of Object.entries(wanted)) {
    const existing = have[name];
    if (existing === undefined || existing === null) missing.push(name);
    else if (existing !== encode(type)) {
      throw new Error(
        `search attribute ${name} exists in namespace ${namespace} with another type (${existing}); want ${type}`,
      );
    }
  }
  return missing;
}

function encode(type: SearchAttributeType | undefined): number {
  const value = encodeSearchAttributeIndexedValueType(type);
  if (value === undefined) throw new Error(`unknown search attribute type ${String(type)}`);
  return value;
}
