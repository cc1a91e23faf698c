-- Remedy workflows in Neovim (0.7 or newer): the `remedy` filetype for `*.wf`, and
-- `remedy lsp` attached to `.wf` files and their `.rhai` modules.
--
-- Use: copy this file to ~/.config/nvim/lua/remedy.lua and add `require("remedy")` to your
-- init.lua, or `dofile("/path/to/remedy/editors/neovim/remedy.lua")`. Set
-- `vim.g.remedy_cmd = { "/path/to/remedy", "lsp" }` first when `remedy` is not on PATH.

local client_id = nil

local function attach(buf)
  local cmd = vim.g.remedy_cmd or { "remedy", "lsp" }
  if client_id == nil or vim.lsp.get_client_by_id(client_id) == nil then
    client_id = vim.lsp.start_client({
      name = "remedy",
      cmd = cmd,
      root_dir = vim.fn.getcwd(),
      init_options = { protectNamespaces = vim.g.remedy_protect_namespaces or {} },
    })
  end
  if client_id ~= nil then
    vim.lsp.buf_attach_client(buf, client_id)
  end
end

local group = vim.api.nvim_create_augroup("remedy", { clear = true })
-- An autocommand rather than vim.filetype.add, which Neovim 0.7 runs only when asked to.
vim.api.nvim_create_autocmd({ "BufRead", "BufNewFile" }, {
  group = group,
  pattern = "*.wf",
  command = "set filetype=remedy",
})
vim.api.nvim_create_autocmd("FileType", {
  group = group,
  pattern = "remedy",
  callback = function(args)
    vim.bo[args.buf].commentstring = "// %s"
    vim.bo[args.buf].shiftwidth = 2
    vim.bo[args.buf].expandtab = true
    attach(args.buf)
  end,
})
vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
  group = group,
  pattern = "*.rhai",
  callback = function(args)
    attach(args.buf)
  end,
})
