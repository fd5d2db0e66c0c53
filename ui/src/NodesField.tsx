// A node limit (max nodes), applied with Enter; only a positive whole number is taken.

export function NodesField({ label, value, onChange }: { label: string; value: number; onChange: (n: number) => void }) {
  return (
    <label>
      {label}
      <input
        aria-label={label}
        type="number"
        min={1}
        key={value}
        defaultValue={value}
        onKeyDown={(e) => {
          const n = Number(e.currentTarget.value);
          if (e.key === 'Enter' && Number.isInteger(n) && n > 0) onChange(n);
        }}
      />
    </label>
  );
}
