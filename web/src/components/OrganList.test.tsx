// @vitest-environment happy-dom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react'
import { afterEach, describe, expect, it } from 'vitest'
import type { ManifestOrgan } from '../api/types'
import { createViewerStore } from '../state/viewer'
import { OrganList } from './OrganList'

const organ = (label: number, name: string, displayName: string, system: string): ManifestOrgan =>
  ({ label, name, displayName, system, color: '#228833', voxelVolumeMl: label, partial: label === 1, files: {} }) as ManifestOrgan

function setup() {
  const store = createViewerStore()
  store.getState().load([organ(1, 'spleen', 'Spleen', 'organs'), organ(5, 'liver', 'Liver', 'organs'), organ(52, 'aorta', 'Aorta', 'vessels')])
  render(<OrganList store={store} />)
  return store
}

afterEach(cleanup)

describe('OrganList', () => {
  it('groups organs by system with a count and flags partial ones', () => {
    setup()
    expect(screen.getByRole('region', { name: 'Organs' }).textContent).toContain('Liver')
    expect(screen.getByRole('region', { name: 'Vessels' }).textContent).toContain('Aorta')
    expect(screen.getByTestId('organ-count').textContent).toBe('3 of 3 shown')
    expect(document.querySelector('[data-organ="spleen"]')?.textContent).toContain('partial')
    expect(document.querySelector('[data-organ="liver"]')?.textContent).not.toContain('partial')
  })

  it('shows and hides by checkbox, group and keyboard', () => {
    const store = setup()
    fireEvent.click(screen.getByRole('checkbox', { name: 'Show Liver' }))
    expect(store.getState().looks.liver.visible).toBe(false)
    expect(screen.getByTestId('organ-count').textContent).toBe('2 of 3 shown')
    const group = screen.getByRole('checkbox', { name: 'Show all organs' }) as HTMLInputElement
    expect(group.indeterminate).toBe(true)
    fireEvent.click(group)
    expect(store.getState().looks.liver.visible).toBe(true)
    expect(store.getState().looks.spleen.visible).toBe(true)
    const liver = screen.getByRole('button', { name: /^Liver/ })
    fireEvent.keyDown(liver, { key: ' ' })
    expect(store.getState().looks.liver.visible).toBe(false)
    fireEvent.keyDown(liver, { key: 'i' })
    expect(store.getState().isolated).toBe('liver')
    expect(Object.entries(store.getState().looks).filter(([, l]) => l.visible).map(([n]) => n)).toEqual(['liver'])
  })

  it('moves focus with the arrow keys across groups', () => {
    setup()
    const names = () => Array.from(document.querySelectorAll<HTMLElement>('[data-role="name"]'))
    expect(names().map((b) => b.textContent?.replace('partial', ''))).toEqual(['Liver', 'Spleen', 'Aorta'])
    names()[0].focus()
    fireEvent.keyDown(names()[0], { key: 'ArrowDown' })
    expect(document.activeElement).toBe(names()[1])
    fireEvent.keyDown(names()[1], { key: 'ArrowDown' })
    expect(document.activeElement).toBe(names()[2])
    fireEvent.keyDown(names()[2], { key: 'ArrowDown' })
    expect(document.activeElement).toBe(names()[2])
    fireEvent.keyDown(names()[2], { key: 'ArrowUp' })
    expect(document.activeElement).toBe(names()[1])
  })

  it('filters by search and selects with a click, showing colour and opacity', () => {
    const store = setup()
    fireEvent.change(screen.getByRole('searchbox', { name: 'Search organs' }), { target: { value: 'aor' } })
    expect(document.querySelectorAll('[data-organ]')).toHaveLength(1)
    fireEvent.click(screen.getByRole('button', { name: /^Aorta/ }))
    expect(store.getState().selected).toBe('aorta')
    const slider = screen.getByRole('slider')
    fireEvent.change(slider, { target: { value: '0.3' } })
    expect(store.getState().looks.aorta.opacity).toBe(0.3)
    act(() => store.getState().setQuery('nothing like it'))
    expect(screen.getByText(/No organ matches/)).toBeTruthy()
  })

  it('is one Tab stop: only the active row is tabbable, and arrows move it', () => {
    setup()
    const names = () => Array.from(document.querySelectorAll<HTMLElement>('[data-role="name"]'))
    expect(names().map((b) => b.tabIndex)).toEqual([0, -1, -1])
    expect(Array.from(document.querySelectorAll<HTMLInputElement>('[data-organ] input[type="checkbox"]')).every((c) => c.tabIndex === -1)).toBe(true)
    names()[0].focus()
    fireEvent.keyDown(names()[0], { key: 'End' })
    expect(document.activeElement).toBe(names()[2])
    expect(names().map((b) => b.tabIndex)).toEqual([-1, -1, 0])
  })

  it('leaves structures under 0.5 mL out of the list, hidden, with a count', () => {
    const store = createViewerStore()
    store.getState().load([organ(5, 'liver', 'Liver', 'organs'), { ...organ(9, 'speck', 'Speck', 'other'), voxelVolumeMl: 0.01 }])
    render(<OrganList store={store} />)
    expect(document.querySelector('[data-organ="speck"]')).toBeNull()
    expect(store.getState().looks.speck.visible).toBe(false)
    const toggle = screen.getByTestId('small-toggle')
    expect(toggle.textContent).toMatch(/^1 structure under 0.5 mL hidden/)
    fireEvent.click(toggle)
    expect(document.querySelector('[data-organ="speck"]')).not.toBeNull()
  })
})
